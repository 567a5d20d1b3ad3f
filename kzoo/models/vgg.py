"""VGG (Simonyan & Zisserman 2015): stacks of 3x3 convolutions, five 2x2 max pools, big classifiers.

Configurations A (11 weight layers), B (13), D (16) and E (19) of the paper's Table 1; convolutions
keep their bias even with batch norm (torchvision's `vgg*_bn`). The ImageNet form ends like
torchvision's: adaptive average pooling to 7x7 (the identity at 224 pixels), then 4096-4096-classes
fully connected layers with dropout. The CIFAR form is Li et al.'s VGG-16: batch norm after every
convolution, then 512-512(BN)-classes on the 1x1x512 features, no dropout.
"""

from __future__ import annotations

import keras

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._validation import check_rate
from kzoo.layers.batch_norm import FusedBatchNormalization
from kzoo.models._conv import conv_bn_act
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights

IMAGENET_SHAPE = (224, 224, 3)
CIFAR_SHAPE = (32, 32, 3)
STAGE_WIDTHS = (64, 128, 256, 512, 512)
# depth -> 3x3 convolutions in each of the five stages (Table 1's configurations A, B, D, E).
CONVS_PER_STAGE = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
MIN_SIZE = 32  # five 2x2 max pools


def _check_depth(depth):
    if isinstance(depth, bool) or depth not in CONVS_PER_STAGE:
        raise ValueError(
            f"`depth` must be one of {', '.join(map(str, CONVS_PER_STAGE))} (VGG configurations "
            f"A, B, D, E); received depth={depth!r}."
        )


def _check_widths(widths, fc_units):
    if (
        not isinstance(widths, (tuple, list))
        or len(widths) != len(STAGE_WIDTHS)
        or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths)
    ):
        raise ValueError(
            f"`widths` must be {len(STAGE_WIDTHS)} positive integers (one per stage), e.g. "
            f"{STAGE_WIDTHS}; received widths={widths!r}."
        )
    if isinstance(fc_units, bool) or not isinstance(fc_units, int) or fc_units < 1:
        raise ValueError(f"`fc_units` must be a positive integer; received fc_units={fc_units!r}.")


def vgg_features(x, depth, batch_norm, kernel_initializer, kernel_regularizer, widths=STAGE_WIDTHS):
    """The convolutional part: blocks `block{s}_{i}` of 3x3 conv (+BN) + ReLU, `block{s}_pool`."""
    stages = zip(CONVS_PER_STAGE[depth], widths, strict=True)
    for stage, (n, width) in enumerate(stages, start=1):
        for i in range(1, n + 1):
            x = conv_bn_act(
                x, width, 3, name=f"block{stage}_{i}", use_bias=True, batch_norm=batch_norm,
                kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer,
            )
        x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    return x


def _dense(units, name, kernel_regularizer, activation=None):
    return keras.layers.Dense(
        units, activation=activation, kernel_regularizer=kernel_regularizer, name=name
    )


def vgg(
    depth=16,
    batch_norm=False,
    dropout=0.5,
    widths=STAGE_WIDTHS,
    fc_units=4096,
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
    """An ImageNet VGG: five stages of 3x3 convolutions and max pools, then three dense layers.

    With 1,000 classes VGG-16 has 138,357,544 trainable parameters and VGG-16 with batch norm
    138,365,992, as torchvision's `vgg16` / `vgg16_bn`; 90% of them are in the first dense layer.

    Args:
        depth: 11, 13, 16 or 19 weight layers (configurations A, B, D, E).
        batch_norm: batch norm after every convolution (torchvision's `_bn` models; the paper
            had none).
        dropout: dropout rate in [0, 1) after each of the two 4096-unit layers (0.5 in the paper).
        widths: the convolutions' channels in each of the five stages (64, 128, 256, 512, 512).
        fc_units: units of the two hidden dense layers (4096).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (the paper: L2 weight decay 5e-4).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (224, 224, 3), at least 32 pixels.
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = vgg(16, batch_norm=True, classes=1000)

    Reference:
        Simonyan, Zisserman. "Very Deep Convolutional Networks for Large-Scale Image
        Recognition." ICLR 2015 (arXiv:1409.1556), Table 1.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    _check_depth(depth)
    if not isinstance(batch_norm, bool):
        raise ValueError(f"`batch_norm` must be True or False; received batch_norm={batch_norm!r}.")
    check_rate("dropout", dropout)
    _check_widths(widths, fc_units)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, IMAGENET_SHAPE, min_size=MIN_SIZE)
    x = vgg_features(x, depth, batch_norm, kernel_initializer, kernel_regularizer, widths)
    if include_top:
        x = keras.layers.AdaptiveAveragePooling2D(7, name="adaptive_pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i in (1, 2):
            x = _dense(fc_units, f"fc{i}", kernel_regularizer, activation="relu")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    x = apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, x, name=name or f"vgg{depth}{'_bn' if batch_norm else ''}"), weights, name)


def vgg_cifar(
    depth=16,
    dropout=0.0,
    widths=STAGE_WIDTHS,
    fc_units=512,
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
    """The CIFAR VGG of Li et al.: batch-normalised VGG features, then 512 (BN, ReLU) and classes.

    VGG-16 has 14,991,946 trainable parameters with 10 classes (Li et al.: 1.5e7) and 313.5M
    multiply-adds at 32x32 (3.13e8). At 32 pixels the features are 1x1x512; larger inputs are
    averaged over space first.

    Args:
        depth: 11, 13, 16 or 19 weight layers in the convolutional part.
        dropout: dropout rate in [0, 1) before the classifier (Li et al. use none).
        widths: the convolutions' channels in each of the five stages (64, 128, 256, 512, 512).
        fc_units: units of the hidden dense layer (512).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel.
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (32, 32, 3), at least 32 pixels.
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = vgg_cifar(16, classes=10)

    Reference:
        Li, Kadav, Durdanovic, Samet, Graf. "Pruning Filters for Efficient ConvNets." ICLR 2017
        (arXiv:1608.08710), Section 4.1 and Table 2; Simonyan & Zisserman 2015.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    _check_depth(depth)
    check_rate("dropout", dropout)
    _check_widths(widths, fc_units)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, CIFAR_SHAPE, min_size=MIN_SIZE)
    x = vgg_features(x, depth, True, kernel_initializer, kernel_regularizer, widths)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(
            fc_units, kernel_initializer=fresh_initializer(kernel_initializer),
            kernel_regularizer=kernel_regularizer, name="fc1",
        )(x)
        x = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, name="fc1_bn")(x)
        x = keras.layers.Activation("relu", name="fc1_act")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="fc1_dropout")(x)
    x = apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, x, name=name or f"vgg{depth}_cifar"), weights, name)
