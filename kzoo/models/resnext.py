"""ResNeXt (Xie et al. 2017): ResNets whose bottleneck 3x3 convolution is split into C groups.

The template is a ResNet's; a block's bottleneck width is C * d, where the cardinality C is the
number of groups and d the width of each group at the first stage (doubling with the stage, as the
ResNet's widths). Blocks are `ResNeXtBlock`s: kzoo's residual bottleneck (the machinery of
`BottleneckBlock`) with a free output width and TensorFlow's grouped convolution kernel.
"""

from __future__ import annotations

import keras

from kzoo.layers._validation import check_positive_int, check_rate
from kzoo.layers.resnext import ResNeXtBlock
from kzoo.models._conv import conv_bn_act
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights
from kzoo.models.resnet import blocks_per_stage

CIFAR_SHAPE = (32, 32, 3)
IMAGENET_SHAPE = (224, 224, 3)
# depth -> blocks per stage, the ResNet template (He et al. 2015 Table 1).
IMAGENET_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def bottleneck_width(stage, cardinality, group_width):
    """C * d * 2^(stage - 1): the bottleneck doubles with each stage, as the ResNet's widths (the
    paper's code and torchvision write it C * floor(planes * d / 64), planes = 64, 128, ...)."""
    return cardinality * group_width * 2 ** (stage - 1)


def resnext_block(width, out_channels, stride, cardinality, name, **kwargs):
    """A post-activation ResNeXt block with projection shortcuts where the shape changes."""
    return ResNeXtBlock(
        width, out_channels=out_channels, stride=stride, shortcut="B", groups=cardinality,
        name=name, **kwargs,
    )


def _stages(x, base_channels, blocks, cardinality, group_width, block_args):
    for stage, n in enumerate(blocks, start=1):
        width = bottleneck_width(stage, cardinality, group_width)
        out_channels = 4 * base_channels * 2 ** (stage - 1)
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = resnext_block(
                width, out_channels, stride, cardinality, f"stage{stage}_block{block}",
                **block_args,
            )(x)
    return x


def _check(cardinality, group_width, dropout):
    check_positive_int("cardinality", cardinality)
    check_positive_int("group_width", group_width)
    check_rate("dropout", dropout)


def resnext_cifar(
    depth=29,
    cardinality=8,
    group_width=64,
    base_channels=64,
    dropout=0.0,
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
    """The CIFAR ResNeXt: 3x3 conv (64), three stages of n blocks (outputs 256/512/1024), pool.

    Depth 9n + 2 (ResNeXt-29: n = 3); the bottleneck width is C*d, 2C*d, 4C*d by stage; the second
    and third stages halve the resolution on their first block; projection shortcuts (1x1 conv +
    BN) where the shape changes. ResNeXt-29 8x64d has 34,426,698 trainable parameters with 10
    classes (the paper: 34.4M), 16x64d 68,155,210 (68.1M).

    Args:
        depth: 9n + 2 (29 in the paper).
        cardinality: C, the number of groups of each 3x3 convolution.
        group_width: d, the channels of each group at the first stage.
        base_channels: the stem's channels; stage outputs are 4x, 8x, 16x it (64 in the paper:
            256, 512, 1024). Smaller values make small ResNeXts for small data.
        dropout: dropout rate in [0, 1) inside every block, before its last convolution.
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (the paper: L2 weight decay 5e-4).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (32, 32, 3).
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = resnext_cifar(29, cardinality=16, group_width=64, classes=100)

    Reference:
        Xie, Girshick, Dollar, Tu, He. "Aggregated Residual Transformations for Deep Neural
        Networks." CVPR 2017 (arXiv:1611.05431), Section 5.3 and Table 7.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    n = blocks_per_stage(depth, 3, 2)
    _check(cardinality, group_width, dropout)
    check_positive_int("base_channels", base_channels)
    kernel_initializer = keras.initializers.get(kernel_initializer)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, CIFAR_SHAPE, min_size=4)
    x = conv_bn_act(
        x, base_channels, 3, name="stem", kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )
    block_args = dict(
        dropout=dropout, kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer
    )
    x = _stages(x, base_channels, (n,) * 3, cardinality, group_width, block_args)
    x = apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, x, name=name or f"resnext{depth}_{cardinality}x{group_width}d"), weights, name)


def resnext_imagenet(
    depth=50,
    cardinality=32,
    group_width=4,
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
    """An ImageNet ResNeXt in torchvision's layout: ResNet-50/101/152 with grouped 3x3 convolutions.

    7x7/2 conv (64)-BN-ReLU, 3x3/2 max pool, four stages (outputs 256/512/1024/2048, bottleneck
    widths C*d ... 8C*d), the stride on the grouped 3x3 convolution, projection shortcuts where the
    shape changes. ResNeXt-50 32x4d has 25,028,904 trainable parameters with 1,000 classes and
    ResNeXt-101 32x8d 88,791,336, as torchvision's.

    Args:
        depth: 50, 101 or 152.
        cardinality: C, groups of each 3x3 convolution (32 in the paper's ImageNet models).
        group_width: d, channels per group at the first stage (4 or 8).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (the paper: L2 weight decay 1e-4).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (224, 224, 3).
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = resnext_imagenet(50, cardinality=32, group_width=4, classes=1000)

    Reference:
        Xie et al. 2017 (arXiv:1611.05431), Table 1 (ResNeXt-50 32x4d: 4.2 GFLOPs, i.e.
        multiply-adds).
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    if isinstance(depth, bool) or depth not in IMAGENET_DEPTHS:
        raise ValueError(
            f"`depth` must be one of {', '.join(map(str, IMAGENET_DEPTHS))}; received "
            f"depth={depth!r}."
        )
    _check(cardinality, group_width, 0.0)
    kernel_initializer = keras.initializers.get(kernel_initializer)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, IMAGENET_SHAPE, min_size=32)
    x = conv_bn_act(
        x, 64, 7, stride=2, name="stem", kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )
    # Zero padding equals PyTorch's -inf padding here: the inputs are ReLU outputs.
    x = keras.layers.ZeroPadding2D(1, name="pool_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    block_args = dict(kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer)
    x = _stages(x, 64, IMAGENET_DEPTHS[depth], cardinality, group_width, block_args)
    x = apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, x, name=name or f"resnext{depth}_{cardinality}x{group_width}d"), weights, name)

