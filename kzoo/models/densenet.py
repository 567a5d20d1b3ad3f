"""DenseNet and DenseNet-BC for CIFAR-sized inputs (Huang et al. 2017).

A 3x3 convolution, three dense blocks joined by two transition layers (each halves the spatial size),
then BN-ReLU, global average pooling and the classifier. Depth L counts the convolutions and the
classifier: L = 3n + 4 with n composite functions per block, or L = 6n + 4 with bottlenecks (two
convolutions each).
"""

from __future__ import annotations

import keras

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._validation import check_positive_int, check_rate
from kzoo.layers.batch_norm import batch_norm
from kzoo.layers.dense_block import (
    DenseBlock,
    TransitionBlock,
    check_compression,
)
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights

DEFAULT_INPUT_SHAPE = (32, 32, 3)
NUM_BLOCKS = 3
# Two 2x2 average poolings: 4 -> 2 -> 1.
MIN_INPUT_SIZE = 4


def layers_per_block(depth, bottleneck) -> int:
    """Composite functions per dense block for `depth`; ValueError listing nearby valid depths."""
    convs_per_layer = 2 if bottleneck else 1
    step = NUM_BLOCKS * convs_per_layer
    is_int = isinstance(depth, int) and not isinstance(depth, bool)
    if not is_int or depth < 4 + step or (depth - 4) % step:
        form = f"{step}n + 4 with n >= 1"
        kind = "with bottleneck=True" if bottleneck else "without bottleneck"
        if is_int:
            n = max(1, round((depth - 4) / step))
            near = [step * m + 4 for m in range(max(1, n - 2), n + 3)]
            hint = f"; valid depths near {depth}: {', '.join(map(str, near))}"
        else:
            hint = ""
        raise ValueError(
            f"`depth` must be {form} {kind} (e.g. 40, 100, 190, 250){hint}; received depth={depth!r}."
        )
    return (depth - 4) // step


def densenet(
    depth,
    growth_rate,
    bottleneck,
    compression,
    dropout=0.0,
    *,
    stem_channels=None,
    kernel_initializer="he_normal",
    include_top=True,
    input_shape=None,
    input_tensor=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    name=None,
    weights=None,
):
    """Build a CIFAR DenseNet: stem conv, 3 dense blocks, 2 transitions, BN-ReLU, head.

    Layer names: `stem_conv`, `block1`, `transition1`, `block2`, `transition2`, `block3`,
    `final_bn`, `final_relu`, then the head (`avg_pool`, `predictions`).

    Args:
        depth: L = 3n + 4 (6n + 4 with `bottleneck`), n composite functions per block.
        growth_rate: k, channels each composite function adds.
        bottleneck: 1x1 bottleneck convolutions to 4k channels (DenseNet-B).
        compression: transition compression theta in (0, 1] (DenseNet-C when < 1).
        dropout: dropout rate after every convolution but the first (the paper: 0.2 without
            data augmentation, 0 with it).
        stem_channels: output channels of the first convolution; None follows the paper: 2k for
            DenseNet-BC (bottleneck and compression < 1), 16 otherwise.
        kernel_initializer: initializer of every convolution kernel.
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; `input_shape` defaults to (32, 32, 3), each spatial side at
            least 4.
        weights: None (random initialisation), or trained weights: a .weights.h5 / .keras file, a
            finished run directory, an exported SavedModel, or a registered weights name of the
            variant `name` (`kzoo.models.pretrained`).

    Example:
        >>> model = densenet(100, 12, bottleneck=True, compression=0.5, classes=10)

    Reference:
        Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks." CVPR 2017.
    """
    if not isinstance(bottleneck, bool):
        raise ValueError(f"`bottleneck` must be True or False; received bottleneck={bottleneck!r}.")
    num_layers = layers_per_block(depth, bottleneck)
    check_positive_int("growth_rate", growth_rate)
    compression = check_compression(compression)
    dropout = check_rate("dropout", dropout)
    is_bc = bottleneck and compression < 1
    if stem_channels is None:
        stem_channels = 2 * growth_rate if is_bc else 16
    check_positive_int("stem_channels", stem_channels)
    keras.initializers.get(kernel_initializer)
    validate_head_args(include_top, pooling, classes, classifier_activation)
    if name is None:
        kind = "bc" if is_bc else "b" if bottleneck else "c" if compression < 1 else ""
        name = "_".join(p for p in ("densenet", kind, str(depth), str(growth_rate)) if p)
    inputs, x = resolve_inputs(input_shape, input_tensor, DEFAULT_INPUT_SHAPE, MIN_INPUT_SIZE)

    common = {"dropout": dropout, "kernel_initializer": kernel_initializer}
    x = keras.layers.Conv2D(
        stem_channels,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer=fresh_initializer(kernel_initializer),
        name="stem_conv",
    )(x)
    for b in range(1, NUM_BLOCKS + 1):
        block = DenseBlock(
            num_layers, growth_rate, bottleneck=bottleneck, name=f"block{b}", **common
        )
        x = block(x)
        if b < NUM_BLOCKS:
            x = TransitionBlock(compression, name=f"transition{b}", **common)(x)
    x = batch_norm("final_bn")(x)
    x = keras.layers.Activation("relu", name="final_relu")(x)
    outputs = apply_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, outputs, name=name), weights, name)
