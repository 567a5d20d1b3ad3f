"""Convolution-BatchNorm-activation as functional layers: the stems and heads of the case studies."""

from __future__ import annotations

import keras

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers.batch_norm import FusedBatchNormalization
from kzoo.models._head import apply_head


def conv_bn_act(
    x,
    filters,
    kernel_size,
    *,
    name,
    stride=1,
    activation="relu",
    kernel_initializer="he_normal",
    kernel_regularizer=None,
    use_bias=False,
    batch_norm=True,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
):
    """`name_conv` (+ `name_bn`) (+ `name_act`) on `x`; stride 2 pads k // 2 on every side.

    Symmetric padding is PyTorch's (Keras' "same" pads a strided convolution bottom/right only),
    so feature maps line up with the papers' frameworks. `activation=None` leaves it linear.
    """
    if stride > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=fresh_initializer(kernel_initializer),
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_conv",
    )(x)
    if batch_norm:
        x = FusedBatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name=f"{name}_bn")(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    return x


def check_multiplier(name, value):
    """A positive real multiplier (width, depth, resolution); ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}.")
    return float(value)


def make_divisible(value, divisor=8, min_value=None):
    """Round `value` to the nearest multiple of `divisor`, never below `min_value` (default the
    divisor) nor more than 10% below `value`: the channel rounding of MobileNet v2's and
    EfficientNet's reference code (`round_filters`; torchvision's `_make_divisible`)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def classifier_head(x, *, dropout, include_top, pooling, classes, classifier_activation):
    """Global average pooling, dropout (if any) and the `predictions` layer; or `apply_head`'s
    optional pooling without the top."""
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
