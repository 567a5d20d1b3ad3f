"""CIFAR ResNets: the original (He 2015), pre-activation (He 2016) and Squeeze-and-Excitation forms."""

from __future__ import annotations

import keras

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._validation import check_choice, check_positive_int, check_rate
from kzoo.layers.batch_norm import batch_norm
from kzoo.layers.residual import BasicBlock, BottleneckBlock
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights

CIFAR_SHAPE = (32, 32, 3)
STAGE_FILTERS = (16, 32, 64)


def blocks_per_stage(depth, layers_per_block, offset, name="depth"):
    """n for depth = layers_per_block * 3 * n + offset; otherwise ValueError listing nearby depths."""
    step = 3 * layers_per_block
    if (
        isinstance(depth, bool)
        or not isinstance(depth, int)
        or depth < step + offset
        or ((depth - offset) % step)
    ):
        near = max(1, (depth - offset) // step if isinstance(depth, int) else 1)
        valid = [step * n + offset for n in range(max(1, near - 2), near + 3)]
        raise ValueError(
            f"`{name}` must be {step}n+{offset} with n >= 1; received {name}={depth!r}. Valid depths "
            f"near it: {', '.join(map(str, valid))}."
        )
    return (depth - offset) // step


def resnet_cifar(
    depth,
    shortcut="A",
    preact=False,
    bottleneck=False,
    se_ratio=None,
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
    """A CIFAR ResNet: 3x3 conv (16) stem, three stages of n blocks at 16/32/64 filters, global pool.

    Basic blocks give depth 6n+2 (ResNet-20/32/44/56/110/1202); bottleneck blocks (x4 expansion, stage
    outputs 64/128/256) give 9n+2 (ResNet-164/1001). The second and third stages halve the resolution.
    v1 (`preact=False`): stem conv-BN-ReLU, post-activation blocks. v2 (`preact=True`): stem conv only,
    pre-activation blocks and a final BN-ReLU before pooling.

    Args:
        depth: number of weighted layers, 6n+2 (basic) or 9n+2 (bottleneck).
        shortcut: "A" (zero-padding identity, the CIFAR paper's choice) or "B" (1x1 projection).
        preact: pre-activation blocks (He et al. 2016).
        bottleneck: bottleneck blocks instead of basic blocks.
        se_ratio: None, or the Squeeze-and-Excitation reduction ratio in every block (16 in Hu 2018).
        dropout: dropout rate in [0, 1) inside every block (between its last two convolutions).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer of every kernel (e.g. `keras.regularizers.L2(5e-5)`).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; the default input is (32, 32, 3).
        weights: None (random initialisation), or trained weights: a .weights.h5 / .keras file, a
            finished run directory, an exported SavedModel, or a registered weights name of the
            variant `name` (`kzoo.models.pretrained`).

    Example:
        >>> model = resnet_cifar(56, classes=10)           # ResNet-56, 853,018 trainable parameters
        >>> model = resnet_cifar(164, preact=True, bottleneck=True, shortcut="B", classes=100)

    Reference:
        He et al. 2015 (arXiv:1512.03385), section 4.2; He et al. 2016 (arXiv:1603.05027).
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    if not isinstance(bottleneck, bool):
        raise ValueError(f"`bottleneck` must be True or False; received bottleneck={bottleneck!r}.")
    if not isinstance(preact, bool):
        raise ValueError(f"`preact` must be True or False; received preact={preact!r}.")
    n = blocks_per_stage(depth, 3 if bottleneck else 2, 2)
    check_choice("shortcut", shortcut, ("A", "B"))
    if se_ratio is not None:
        check_positive_int("se_ratio", se_ratio)
    check_rate("dropout", dropout)
    kernel_initializer = keras.initializers.get(kernel_initializer)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    # Two stride-2 stages: 4 pixels is the smallest input whose last stage is still 1x1 of real data.
    inputs, x = resolve_inputs(input_shape, input_tensor, CIFAR_SHAPE, min_size=4)

    block_cls = BottleneckBlock if bottleneck else BasicBlock
    block_args = dict(
        preact=preact,
        shortcut=shortcut,
        se_ratio=se_ratio,
        dropout=dropout,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
    )
    x = stem_conv(x, 16, kernel_initializer, kernel_regularizer)
    if not preact:
        x = batch_norm("stem_bn")(x)
        x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(STAGE_FILTERS, start=1):
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            x = block_cls(filters, stride=stride, name=f"stage{stage}_block{block}", **block_args)(
                x
            )
    if preact:
        x = batch_norm("final_bn")(x)
        x = keras.layers.ReLU(name="final_relu")(x)
    x = apply_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    if name is None:
        name = f"{'se_' if se_ratio else ''}{'preact_' if preact else ''}resnet{depth}"
    return apply_weights(keras.Model(inputs, x, name=name), weights, name)


def stem_conv(x, filters, kernel_initializer, kernel_regularizer):
    """The 3x3 stride-1 stem convolution (no bias: BatchNorm follows in every ResNet form)."""
    return keras.layers.Conv2D(
        filters,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer=fresh_initializer(kernel_initializer),
        kernel_regularizer=kernel_regularizer,
        name="stem_conv",
    )(x)
