"""The parts every builder shares: input resolution and the classification head.

Builders take keras.applications' arguments (`include_top, input_shape, input_tensor, pooling, classes,
classifier_activation, name`); these helpers validate them before any layer is created.
"""

from __future__ import annotations

import keras

from kzoo.utils.checks import check_choice, check_positive_int

POOLINGS = (None, "avg", "max")


def validate_head_args(include_top, pooling, classes, classifier_activation) -> None:
    """Raise ValueError for head arguments that cannot build a model."""
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False; received include_top={include_top!r}.")
    check_choice("pooling", pooling, POOLINGS)
    if include_top:
        if classes is None:
            raise ValueError(
                "`classes` is required when include_top=True (e.g. classes=10 for CIFAR-10); "
                "received classes=None."
            )
        check_positive_int("classes", classes)
        if classifier_activation is not None:
            try:
                keras.activations.get(classifier_activation)
            except (ValueError, TypeError) as err:
                raise ValueError(
                    "`classifier_activation` must be a Keras activation name or None; received "
                    f"classifier_activation={classifier_activation!r}."
                ) from err


def resolve_inputs(input_shape, input_tensor, default_shape, min_size: int | None = None):
    """Return `(inputs, x)`: the model inputs and the tensor to build on.

    Args:
        input_shape: shape without the batch axis, or None for `default_shape`.
        input_tensor: optional Keras tensor to build the model on.
        default_shape: the family's default input shape, e.g. `(32, 32, 3)`.
        min_size: smallest spatial size the network's downsampling accepts (images/sequences only).
    """
    if input_shape is not None:
        if not isinstance(input_shape, (tuple, list)) or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in input_shape
        ):
            raise ValueError(
                "`input_shape` must be a tuple of positive integers (no batch axis), e.g. (32, 32, 3); "
                f"received input_shape={input_shape!r}."
            )
        input_shape = tuple(input_shape)
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor):
            raise ValueError(
                "`input_tensor` must be a Keras tensor such as `keras.Input(shape=...)`; received "
                f"input_tensor of type {type(input_tensor).__name__}."
            )
        tensor_shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tensor_shape[-1] != input_shape[-1]:
            raise ValueError(
                f"`input_tensor` has {tensor_shape[-1]} channels but input_shape={input_shape} asks "
                f"for {input_shape[-1]}."
            )
        shape = tensor_shape
    else:
        shape = input_shape if input_shape is not None else tuple(default_shape)
    if len(shape) != len(default_shape):
        raise ValueError(
            f"`input_shape` must have rank {len(default_shape)} like {tuple(default_shape)} "
            f"(no batch axis); received input_shape={shape}."
        )
    if shape[-1] is None:
        raise ValueError(
            "The channel (last) dimension of the input must be known, e.g. (32, 32, 3); "
            f"received input_shape={shape}."
        )
    if min_size is not None:
        spatial = [d for d in shape[:-1] if d is not None]
        if any(d < min_size for d in spatial):
            raise ValueError(
                f"input_shape={shape} is too small for this network's downsampling: each spatial "
                f"dimension must be at least {min_size}."
            )
    if input_tensor is not None:
        return input_tensor, input_tensor
    inputs = keras.Input(shape=shape, name="input")
    return inputs, inputs


def apply_head(x, *, include_top, pooling, classes, classifier_activation):
    """Global pooling + the `predictions` Dense layer (include_top), or optional pooling only."""
    spatial = len(x.shape) > 2
    if include_top:
        if spatial:
            x = _pool(x, "avg")
        return keras.layers.Dense(
            classes, activation=classifier_activation, dtype=_output_dtype(), name="predictions"
        )(x)
    if spatial and pooling is not None:
        x = _pool(x, pooling)
    return x


def _output_dtype():
    """float32 for the classifier under a mixed policy (None otherwise: the global policy).

    A softmax in bfloat16 has 8 significant bits: its probabilities do not sum to 1 within 1e-3
    and the cross-entropy of confident predictions is coarse. The layer is a tiny share of the
    work, so it runs in float32 (the Keras mixed precision guide's advice for the model output).
    """
    return "float32" if keras.mixed_precision.global_policy().name.startswith("mixed_") else None


def _pool(x, pooling):
    rank = len(x.shape) - 2
    avg = {1: keras.layers.GlobalAveragePooling1D, 2: keras.layers.GlobalAveragePooling2D}
    mx = {1: keras.layers.GlobalMaxPooling1D, 2: keras.layers.GlobalMaxPooling2D}
    layer = (avg if pooling == "avg" else mx)[rank]
    return layer(name=f"{pooling}_pool")(x)
