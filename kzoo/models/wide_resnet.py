"""Wide Residual Networks (Zagoruyko & Komodakis 2016)."""

from __future__ import annotations

import keras

from kzoo.layers._validation import check_positive_int, check_rate
from kzoo.layers.residual import BasicBlock, batch_norm
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.resnet import CIFAR_SHAPE, blocks_per_stage, stem_conv
from kzoo.registry import register_model

ZAGORUYKO_2016 = "Zagoruyko, Komodakis. Wide Residual Networks. BMVC 2016 (arXiv:1605.07146)"


def wide_resnet(
    depth,
    width,
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
):
    """WRN-depth-width: 3x3 conv (16), three stages of n pre-activation basic blocks, BN-ReLU, pool.

    depth = 6n+4; the stages have 16k, 32k, 64k filters (k = `width`) and the second and third halve
    the resolution. Where a block changes the shape, its shortcut is a 1x1 convolution of the
    pre-activated input; dropout sits between the two 3x3 convolutions of every block.

    Args:
        depth: number of weighted layers, 6n+4 (16, 22, 28, 34, 40, ...).
        width: widening factor k >= 1 (k=1 is a pre-activation ResNet with 1x1 projections).
        dropout: dropout rate in [0, 1) between the convolutions (the paper uses 0.3 with k=10).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (the paper: L2 weight decay 5e-4).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (32, 32, 3).

    Example:
        >>> model = wide_resnet(28, 10, dropout=0.3, classes=100)   # WRN-28-10 for CIFAR-100

    Reference:
        Zagoruyko, Komodakis. "Wide Residual Networks." BMVC 2016, Table 1.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    n = blocks_per_stage(depth, 2, 4)
    check_positive_int("width", width)
    check_rate("dropout", dropout)
    kernel_initializer = keras.initializers.get(kernel_initializer)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, CIFAR_SHAPE, min_size=4)

    x = stem_conv(x, 16, kernel_initializer, kernel_regularizer)
    for stage, filters in enumerate((16 * width, 32 * width, 64 * width), start=1):
        for block in range(1, n + 1):
            x = BasicBlock(
                filters,
                stride=2 if stage > 1 and block == 1 else 1,
                preact=True,
                shortcut="B",
                dropout=dropout,
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                name=f"stage{stage}_block{block}",
            )(x)
    x = batch_norm("final_bn")(x)
    x = keras.layers.ReLU(name="final_relu")(x)
    x = apply_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, x, name=name or f"wrn_{depth}_{width}")


@register_model(paper=ZAGORUYKO_2016, default_input_shape=CIFAR_SHAPE)
def wrn_16_4(**kwargs):
    """WRN-16-4: n=2 blocks per stage, widths 64/128/256.

    Args: the `wide_resnet` keyword arguments (`classes`, `dropout`, `input_shape`, ...); `depth`
        and `width` override the variant's (the model is then named after them).
    Example: `model = wrn_16_4(classes=10)`
    Reference: Zagoruyko & Komodakis 2016 (arXiv:1605.07146).
    """
    return wide_resnet(**{"depth": 16, "width": 4, **kwargs})


@register_model(
    paper=ZAGORUYKO_2016,
    default_input_shape=CIFAR_SHAPE,
    published={"cifar10_error": 4.27, "cifar100_error": 20.43},
)
def wrn_16_8(**kwargs):
    """WRN-16-8: n=2 blocks per stage, widths 128/256/512; 10,961,370 parameters (10 classes).

    Args: the `wide_resnet` keyword arguments (`classes`, `dropout`, `input_shape`, ...); `depth`
        and `width` override the variant's (the model is then named after them).
    Example: `model = wrn_16_8(classes=10)`
    Reference: Zagoruyko & Komodakis 2016 (arXiv:1605.07146), Table 4.
    """
    return wide_resnet(**{"depth": 16, "width": 8, **kwargs})


@register_model(
    paper=ZAGORUYKO_2016,
    default_input_shape=CIFAR_SHAPE,
    # Without dropout; with dropout=0.3 the paper reports 3.89 (CIFAR-10) and 18.85 (CIFAR-100).
    published={"cifar10_error": 4.00, "cifar100_error": 19.25},
)
def wrn_28_10(**kwargs):
    """WRN-28-10: n=4 blocks per stage, widths 160/320/640; 36,479,194 parameters (10 classes).

    Args: the `wide_resnet` keyword arguments (`classes`, `dropout`, `input_shape`, ...); `depth`
        and `width` override the variant's (the model is then named after them).
    Example: `model = wrn_28_10(classes=10, dropout=0.3)`
    Reference: Zagoruyko & Komodakis 2016 (arXiv:1605.07146), Table 4.
    """
    return wide_resnet(**{"depth": 28, "width": 10, **kwargs})


@register_model(paper=ZAGORUYKO_2016, default_input_shape=CIFAR_SHAPE)
def wrn_40_4(**kwargs):
    """WRN-40-4: n=6 blocks per stage, widths 64/128/256.

    Args: the `wide_resnet` keyword arguments (`classes`, `dropout`, `input_shape`, ...); `depth`
        and `width` override the variant's (the model is then named after them).
    Example: `model = wrn_40_4(classes=10)`
    Reference: Zagoruyko & Komodakis 2016 (arXiv:1605.07146).
    """
    return wide_resnet(**{"depth": 40, "width": 4, **kwargs})
