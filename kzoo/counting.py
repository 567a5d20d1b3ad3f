"""Multiply-accumulate (MAC) counts of Keras models, by the convention of the papers' FLOPs columns.

Only the multiplications of convolutions and fully connected layers count (one MAC per kernel
weight per output position); normalisation, activations, pooling, additions and biases are left
out, and FLOPs = 2 * MACs. The walk recurses into nested models and into composite layers (such
as kzoo's residual and dense blocks) and reads every layer's shapes from the shapes it was built
with, so counting never calls or changes the model.
"""

from __future__ import annotations

import math
import warnings

import keras

from kzoo.layers import (
    Highway,
    Maxout,
    SqueezeExcite,
    WeightNormConv1D,
    WeightNormConv2D,
    WeightNormDense,
)

# One MAC per kernel weight per position of the input's leading (non-batch, non-feature) axes.
_DENSE_LIKE = (keras.layers.Dense, Highway, Maxout, WeightNormDense)
# One MAC per kernel weight per OUTPUT position (kernels include depthwise and pointwise ones).
_CONV = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    WeightNormConv1D,
    WeightNormConv2D,
)
# One MAC per kernel weight per INPUT position.
_CONV_TRANSPOSE = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
# One MAC per kernel weight per example (the gate MLP acts on pooled features).
_PER_EXAMPLE = (SqueezeExcite,)
# Layers with multi-dimensional weights that are not kernels of a product.
_NO_MACS = (keras.layers.PReLU, keras.layers.Embedding, keras.layers.Normalization)


def count_macs(model, *, strict=True) -> int:
    """Multiply-accumulates of one forward pass of one example through `model`.

    Counts Conv1D/2D/3D, depthwise, separable and transposed convolutions, Dense, and kzoo's
    Highway, Maxout, WeightNormDense, WeightNormConv1D/2D and SqueezeExcite layers, and recurrent
    layers (Keras' RNN / LSTM / GRU and kzoo's GridLSTM: per-step MACs times steps); recurses into nested models and
    composite layers (sub-layers held as attributes, e.g. BasicBlock, DenseBlock). A layer called
    several times is counted once.

    Args:
        model: a built `keras.Model` (or layer) with fixed input sizes.
        strict: if True, a layer of unknown type that owns kernel-like weights (rank >= 2) raises
            ValueError; if False it is counted as 0 with a warning. Never silently ignored.

    Returns:
        The number of MACs (an int). FLOPs by the papers' convention are 2 * MACs.

    Example:
        >>> count_macs(kzoo.create_model("resnet20", classes=10))
        40551040

    Reference:
        He et al. 2015 (arXiv:1512.03385), Table 1's FLOPs column (multiply-adds of conv and
        fully connected layers).
    """
    if not isinstance(model, keras.layers.Layer):
        raise ValueError(
            f"`model` must be a Keras model or layer; received an object of type "
            f"{type(model).__name__}."
        )
    if not model.built:
        raise ValueError(f"`model` {model.name!r} is not built; build or call it first.")
    return _macs(model, set(), strict)


def _macs(layer, seen, strict) -> int:
    if id(layer) in seen:
        return 0
    seen.add(id(layer))
    if isinstance(layer, keras.Model):
        return sum(_macs(sub, seen, strict) for sub in layer.layers)
    if isinstance(layer, keras.layers.RNN):
        return _recurrent_macs(layer, seen)
    subs = sublayers(layer)
    total = sum(_macs(sub, seen, strict) for sub in subs)
    kernels = _own_kernels(layer, subs)
    if not kernels:
        return total
    size = sum(math.prod(w.shape) for w in kernels)
    if isinstance(layer, _DENSE_LIKE):
        return total + size * _positions(layer, _input_shape(layer)[1:-1])
    if isinstance(layer, _CONV):
        out = layer.compute_output_shape(_input_shape(layer))
        return total + size * _positions(layer, _spatial(layer, out))
    if isinstance(layer, _CONV_TRANSPOSE):
        return total + size * _positions(layer, _spatial(layer, _input_shape(layer)))
    if isinstance(layer, _PER_EXAMPLE):
        return total + size
    if isinstance(layer, _NO_MACS):
        return total
    message = (
        f"count_macs does not know layer {layer.name!r} of type {type(layer).__name__}, which owns "
        f"kernel-like weights {[w.path for w in kernels]}; its MACs would be missing from the count."
    )
    if strict:
        raise ValueError(message + " Pass strict=False to count it as 0 with a warning.")
    warnings.warn(message + " Counted as 0.", stacklevel=3)
    return total


def _recurrent_macs(layer, seen) -> int:
    """A recurrent layer: its cell's MACs per step (a cell's own `macs_per_step()`, else one MAC
    per weight of its `kernel` and `recurrent_kernel`) times the time steps."""
    cell = layer.cell
    seen.add(id(cell))
    per_step = getattr(cell, "macs_per_step", None)
    if callable(per_step):
        macs = per_step()
    else:
        kernels = [getattr(cell, n, None) for n in ("kernel", "recurrent_kernel")]
        macs = sum(math.prod(k.shape) for k in kernels if k is not None)
    return macs * _positions(layer, _input_shape(layer)[1:2])


def sublayers(layer) -> list:
    """The layers a composite layer holds as attributes (directly or in lists, tuples, dicts).

    Keras 3 offers no public accessor for a plain Layer's sub-layers (only `Model.layers`); Keras
    itself tracks exactly the layers assigned as attributes, so walking the attributes finds them.
    """
    found, ids = [], {id(layer)}
    pending = list(vars(layer).values())
    while pending:
        value = pending.pop(0)
        if isinstance(value, keras.layers.Layer):
            if id(value) not in ids:
                ids.add(id(value))
                found.append(value)
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
    return found


def _own_kernels(layer, subs):
    """Weights of rank >= 2 that `layer` creates itself (not through its sub-layers)."""
    inner = {id(w) for sub in subs for w in sub.weights}
    return [w for w in layer.weights if id(w) not in inner and len(w.shape) >= 2]


def _input_shape(layer):
    config = layer.get_build_config() or {}
    shape = config.get("input_shape")
    if shape is None:
        raise ValueError(
            f"count_macs needs the input shape layer {layer.name!r} was built with; it has none "
            "recorded. Build the model by calling it on a `keras.Input` of fixed shape."
        )
    return tuple(shape)


def _spatial(layer, shape):
    shape = tuple(shape)
    return shape[2:] if getattr(layer, "data_format", None) == "channels_first" else shape[1:-1]


def _positions(layer, dims) -> int:
    if any(d is None for d in dims):
        raise ValueError(
            f"count_macs needs fixed sizes, but layer {layer.name!r} has positions {tuple(dims)}; "
            "build the model with a fully specified `input_shape`."
        )
    return math.prod(dims)
