"""Wide Residual Networks (Zagoruyko & Komodakis 2016)."""

from __future__ import annotations

import keras

from kzoo.layers._validation import check_positive_int, check_rate
from kzoo.layers.batch_norm import batch_norm
from kzoo.layers.residual import BasicBlock
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights
from kzoo.models.resnet import CIFAR_SHAPE, blocks_per_stage, stem_conv


def wide_resnet(
    depth,
    widen_factor,
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
    """WRN-depth-k: 3x3 conv (16), three stages of n pre-activation basic blocks, BN-ReLU, pool.

    depth = 6n+4; the stages have 16k, 32k, 64k filters (k = `widen_factor`) and the second and
    third halve the resolution. Where a block changes the shape, its shortcut is a 1x1 convolution
    of the pre-activated input; dropout sits between the two 3x3 convolutions of every block.

    Args:
        depth: number of weighted layers, 6n+4 (16, 22, 28, 34, 40, ...).
        widen_factor: the widening factor k >= 1 (k=1: a pre-activation ResNet with 1x1
            projections).
        dropout: dropout rate in [0, 1) between the convolutions (the paper uses 0.3 with k=10).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (the paper: L2 weight decay 5e-4).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (32, 32, 3).
        weights: None (random initialisation), or trained weights: a .weights.h5 / .keras file, a
            finished run directory, an exported SavedModel, or a registered weights name of the
            variant `name` (`kzoo.models.pretrained`).

    Example:
        >>> model = wide_resnet(28, 10, dropout=0.3, classes=100)   # WRN-28-10 for CIFAR-100

    Reference:
        Zagoruyko, Komodakis. "Wide Residual Networks." BMVC 2016, Table 1.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    n = blocks_per_stage(depth, 2, 4)
    check_positive_int("widen_factor", widen_factor)
    check_rate("dropout", dropout)
    kernel_initializer = keras.initializers.get(kernel_initializer)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, CIFAR_SHAPE, min_size=4)

    x = stem_conv(x, 16, kernel_initializer, kernel_regularizer)
    k = widen_factor
    for stage, filters in enumerate((16 * k, 32 * k, 64 * k), start=1):
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
    model = keras.Model(inputs, x, name=name or f"wrn_{depth}_{widen_factor}")
    return apply_weights(model, weights, name)
