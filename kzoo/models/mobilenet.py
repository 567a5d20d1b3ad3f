"""MobileNets: depthwise-separable convolutions (v1, Howard et al. 2017) and inverted residuals
with linear bottlenecks (v2, Sandler et al. 2018).

Both take a width multiplier `alpha` (every layer's channels scaled: cost ~ alpha^2) and a
resolution multiplier (the default input side scaled from 224: cost ~ rho^2). `small_inputs=True`
gives the common CIFAR form for 32x32 inputs: the stem convolution (and v2's second stage) keeps
stride 1, so the last feature map is 2x2 (v1) or 4x4 (v2) instead of 1x1. The papers report no
CIFAR results; that form is an adaptation, not a published architecture.
"""

from __future__ import annotations

import keras

from kzoo.layers._validation import check_activation, check_rate
from kzoo.layers.depthwise_separable import DepthwiseSeparableBlock
from kzoo.layers.inverted_residual import InvertedResidual
from kzoo.models._conv import check_multiplier, classifier_head, conv_bn_act, make_divisible
from kzoo.models._head import resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights

IMAGENET_SIDE = 224
CIFAR_SIDE = 32
# MobileNet v1, Table 1: (pointwise output channels, depthwise stride) after a 3x3/2 conv of 32.
V1_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
# MobileNet v2, Table 2: (expansion t, output channels c, repeats n, first stride s).
V2_LAYERS = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _inputs(input_shape, input_tensor, resolution_multiplier, small_inputs, min_size):
    if not isinstance(small_inputs, bool):
        raise ValueError(
            f"`small_inputs` must be True or False; received small_inputs={small_inputs!r}."
        )
    rho = check_multiplier("resolution_multiplier", resolution_multiplier)
    side = round((CIFAR_SIDE if small_inputs else IMAGENET_SIDE) * rho)
    return resolve_inputs(input_shape, input_tensor, (side, side, 3), min_size=min_size)


def mobilenet_v1(
    alpha=1.0,
    resolution_multiplier=1.0,
    small_inputs=False,
    dropout=0.0,
    activation="relu",
    kernel_initializer="he_normal",
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
    """MobileNet v1: a 3x3/2 convolution, 13 depthwise-separable blocks, global pool, classifier.

    Channels are int(c * alpha). At alpha = 1 and 224 pixels: 4,231,976 trainable parameters
    with 1,000 classes (the paper: 4.2M) and 568.7M multiply-adds (569M).

    Args:
        alpha: width multiplier > 0 (the paper: 1, 0.75, 0.5, 0.25).
        resolution_multiplier: rho > 0; the default input side is round(224 * rho) (the
            paper's 224, 192, 160, 128), or round(32 * rho) with `small_inputs`. An explicit
            `input_shape` takes precedence.
        small_inputs: the CIFAR form (a stride-1 stem; default input 32x32).
        dropout: dropout rate in [0, 1) before the classifier.
        activation: activation after every batch norm ("relu" as the paper; "relu6" as TF-slim).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of the 3x3 stem and every 1x1 kernel (none on the
            depthwise kernels, as the paper advises).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`.
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = mobilenet_v1(alpha=0.5, resolution_multiplier=160 / 224, classes=1000)

    Reference:
        Howard et al. "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
        Applications." 2017 (arXiv:1704.04861), Tables 1, 6 and 7.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    alpha = check_multiplier("alpha", alpha)
    check_rate("dropout", dropout)
    check_activation("activation", activation)
    inputs, x = _inputs(input_shape, input_tensor, resolution_multiplier, small_inputs,
                        min_size=16 if small_inputs else 32)
    common = dict(kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer)
    x = conv_bn_act(x, max(1, int(32 * alpha)), 3, stride=1 if small_inputs else 2,
                    activation=activation, name="stem", **common)
    for i, (filters, stride) in enumerate(V1_LAYERS, start=1):
        x = DepthwiseSeparableBlock(
            max(1, int(filters * alpha)), stride=stride, activation=activation, name=f"block{i}",
            **common,
        )(x)
    x = classifier_head(x, dropout=dropout, include_top=include_top, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation)
    if name is None:
        name = f"mobilenet_v1_{alpha:g}_{inputs.shape[1]}"
    return apply_weights(keras.Model(inputs, x, name=name), weights, name)


def mobilenet_v2(
    alpha=1.0,
    resolution_multiplier=1.0,
    small_inputs=False,
    dropout=0.2,
    kernel_initializer="he_normal",
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
    """MobileNet v2 in torchvision's layout: 3x3/2 conv (32), 17 inverted residual blocks, a 1x1
    conv to 1280, global pool, dropout, classifier; ReLU6 everywhere but the linear projections.

    Channels are rounded to multiples of 8 (`make_divisible(c * alpha)`; the last 1x1 conv keeps
    1280 for alpha < 1). At alpha = 1 and 224 pixels: 3,504,872 trainable parameters with 1,000
    classes (as torchvision) and 300.8M multiply-adds (the paper: 300M).

    Args:
        alpha: width multiplier > 0 (the paper: 0.35 to 1.4).
        resolution_multiplier: rho > 0; the default input side is round(224 * rho) (the paper's
            96 to 224), or round(32 * rho) with `small_inputs`. An explicit `input_shape` wins.
        small_inputs: the CIFAR form (stride 1 in the stem and the second stage; default input
            32x32).
        dropout: dropout rate in [0, 1) before the classifier (0.2 in torchvision).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every 1x1 and stem kernel (none on depthwise kernels).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`.
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = mobilenet_v2(alpha=1.0, classes=1000)

    Reference:
        Sandler, Howard, Zhu, Zhmoginov, Chen. "MobileNetV2: Inverted Residuals and Linear
        Bottlenecks." CVPR 2018 (arXiv:1801.04381), Tables 2 and 4.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    alpha = check_multiplier("alpha", alpha)
    check_rate("dropout", dropout)
    inputs, x = _inputs(input_shape, input_tensor, resolution_multiplier, small_inputs,
                        min_size=8 if small_inputs else 32)
    common = dict(kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer)
    x = conv_bn_act(x, make_divisible(32 * alpha), 3, stride=1 if small_inputs else 2,
                    activation="relu6", name="stem", **common)
    block = 0
    for stage, (t, c, n, s) in enumerate(V2_LAYERS):
        if small_inputs and stage == 1:
            s = 1
        for i in range(n):
            block += 1
            x = InvertedResidual(
                make_divisible(c * alpha), expansion=t, stride=s if i == 0 else 1,
                activation="relu6", name=f"block{block}", **common,
            )(x)
    x = conv_bn_act(x, make_divisible(1280 * max(1.0, alpha)), 1, activation="relu6",
                    name="head", **common)
    x = classifier_head(x, dropout=dropout, include_top=include_top, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation)
    if name is None:
        name = f"mobilenet_v2_{alpha:g}_{inputs.shape[1]}"
    return apply_weights(keras.Model(inputs, x, name=name), weights, name)
