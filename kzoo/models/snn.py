"""Self-normalizing networks (Klambauer et al. 2017): SELU MLPs that keep activations at N(0, 1)."""

from __future__ import annotations

import keras
import numpy as np

from kzoo.layers._validation import check_positive_int
from kzoo.models.plain import hidden_layer_names, plain_net


def snn_mlp(
    depth=8,
    width=256,
    dropout=0.05,
    *,
    kernel_regularizer=None,
    include_top=True,
    input_shape=None,
    input_tensor=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    name=None,
    weights=None,
):
    """Self-normalizing MLP: `depth` Dense layers of `width` SELU units, LeCun-normal weights.

    With weights of variance 1/fan_in and zero biases, SELU (lambda = 1.0507, alpha = 1.6733)
    maps activations of mean 0 and variance 1 to mean 0 and variance 1, so the statistics stay
    fixed through arbitrarily many layers without any normalisation layer; AlphaDropout keeps that
    fixed point while training. The paper's grid: depth 2 ... 32, width 256 ... 1024, dropout
    0 or 0.05. Layer names: `dense_i`, `act_i`, `dropout_i` (AlphaDropout).

    Args:
        depth: number of hidden SELU layers. Positive integer.
        width: units per hidden layer. Positive integer.
        dropout: AlphaDropout rate after each hidden layer, in [0, 1).
        kernel_regularizer: regularizer of every hidden kernel, or None.
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; inputs of rank > 1 are flattened.
        weights: None (random initialisation), or trained weights: a .weights.h5 / .keras file, a
            finished run directory, an exported SavedModel, or a registered weights name of the
            variant `name` (`kzoo.models.pretrained`).

    Example:
        >>> model = snn_mlp(depth=16, width=256, input_shape=(64,), classes=10)
        >>> report = self_normalization_report(model)  # mean ~ 0, variance ~ 1 at every layer

    Reference:
        Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017 (arXiv:1706.02515).
    """
    return plain_net(
        "mlp",
        depth=depth,
        width=width,
        activation="selu",
        norm="none",
        dropout=dropout,
        init="lecun_normal",
        kernel_regularizer=kernel_regularizer,
        include_top=include_top,
        input_shape=input_shape,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        name=name or "snn_mlp",
        weights=weights,
    )


def self_normalization_report(model, n=2048, seed=0) -> list[dict]:
    """Activation statistics of every hidden layer for N(0, 1) inputs (inference mode).

    Pushes `n` standard-normal inputs through `model` (untouched: a read-only sub-model shares its
    layers) and returns, for each hidden layer in depth order (`hidden_layer_names`), the mean and
    variance of its activations over all examples and units. A self-normalizing network at
    initialisation keeps both near 0 and 1 at every depth; a ReLU or sigmoid network drifts.

    Args:
        model: a plain or SNN model from kzoo (layers named `act_i`, `highway_i` or `maxout_i`).
        n: number of input samples. Positive integer.
        seed: NumPy seed of the inputs.

    Returns:
        A list of `{"layer": name, "mean": float, "variance": float}`, one per hidden layer.

    Example:
        >>> rows = self_normalization_report(snn_mlp(depth=16, classes=10))
        >>> rows[-1]["layer"], round(rows[-1]["variance"], 1)
        ('act_16', 1.0)

    Reference:
        Klambauer et al. 2017, Section 3 (the fixed point (mean, variance) = (0, 1)).
    """
    check_positive_int("n", n)
    names = hidden_layer_names(model)
    if not names:
        raise ValueError(
            f"model {model.name!r} has no hidden layers named act_i, highway_i or maxout_i; "
            "self_normalization_report reads kzoo plain / SNN networks."
        )
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    shape = (n, *model.input.shape[1:])
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    outputs = probe(x, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    rows = []
    for name, out in zip(names, outputs, strict=True):
        values = keras.ops.convert_to_numpy(out).astype("float64")
        rows.append({"layer": name, "mean": float(values.mean()), "variance": float(values.var())})
    return rows
