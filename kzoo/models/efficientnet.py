"""EfficientNet (Tan & Le 2019): the B0 network of MBConv blocks, scaled by compound scaling.

Compound scaling grows depth, width and resolution together with one coefficient phi:
depth d = alpha^phi, width w = beta^phi, resolution r = gamma^phi, with alpha = 1.2, beta = 1.1,
gamma = 1.15 found by a grid search on B0 under alpha * beta^2 * gamma^2 ~ 2 (so each unit of phi
roughly doubles the multiply-adds). The reference implementation turns the multipliers into a
network by `round_filters` (channels * w to the nearest multiple of 8, never 10% below) and
`round_repeats` (ceil(repeats * d)); `scaled_blocks` does the same here.

The released B1-B7 were not built from integer phi: the reference code lists hand-picked
(width, depth, resolution) coefficients, close to phi = 0.5, 1, 2, 3.5, 5, 6, 7 (B1's width 1.0 is
phi = 0; its depth 1.1 phi ~ 0.5). kzoo registers B1-B7 with those released coefficients (their
parameter counts equal torchvision's), and `efficientnet(phi)` builds the compound rule itself.
"""

from __future__ import annotations

import math

import keras

from kzoo.layers._validation import check_rate
from kzoo.layers.inverted_residual import MBConv
from kzoo.models._conv import check_multiplier, classifier_head, conv_bn_act, make_divisible
from kzoo.models._head import resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width, resolution bases (Section 3.3)
BASE_RESOLUTION = 224
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
# EfficientNet-B0, Table 1: (expansion, kernel, first stride, input channels, output channels,
# repeats) of the seven MBConv stages.
B0_BLOCKS = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
BN = dict(bn_momentum=0.99, bn_epsilon=1e-3)  # the reference implementation's batch norm


def compound_coefficients(phi):
    """(depth, width, resolution) for compound coefficient `phi`: (alpha^phi, beta^phi,
    round(224 * gamma^phi))."""
    if isinstance(phi, bool) or not isinstance(phi, (int, float)) or not math.isfinite(phi):
        raise ValueError(f"`phi` must be a finite number; received phi={phi!r}.")
    return ALPHA**phi, BETA**phi, round(BASE_RESOLUTION * GAMMA**phi)


def round_filters(channels, width):
    """The reference `round_filters`: channels * width to a multiple of 8, at most 10% lower."""
    return make_divisible(channels * width, 8)


def round_repeats(repeats, depth):
    """The reference `round_repeats`: ceil(repeats * depth)."""
    return int(math.ceil(repeats * depth))


def scaled_blocks(width, depth):
    """B0's stage table scaled by `width` and `depth`, rounded as the reference implementation."""
    return [
        (t, k, s, round_filters(cin, width), round_filters(cout, width), round_repeats(n, depth))
        for t, k, s, cin, cout, n in B0_BLOCKS
    ]


def efficientnet(
    phi=0.0,
    width_coefficient=None,
    depth_coefficient=None,
    resolution=None,
    dropout=0.2,
    drop_connect_rate=0.2,
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
    """EfficientNet scaled from B0 by compound coefficient `phi` (or explicit coefficients).

    Stem 3x3/2 conv (round_filters(32)), seven stages of MBConv blocks (SE 0.25, SiLU),
    1x1 conv to round_filters(1280), global pool, dropout, classifier. The stochastic-depth rate
    rises linearly with the block's index from 0 to `drop_connect_rate`. phi = 0 is B0:
    5,288,548 trainable parameters with 1,000 classes (as torchvision) and 385.8M multiply-adds
    at 224 pixels (the paper: 0.39B).

    Args:
        phi: compound coefficient (any finite number; negative phi scales down). It sets the
            depth alpha^phi, width beta^phi and default resolution round(224 * gamma^phi) that the
            next three arguments do not give.
        width_coefficient: channel multiplier, overriding beta^phi.
        depth_coefficient: repeat multiplier, overriding alpha^phi.
        resolution: default input side, overriding round(224 * gamma^phi); an explicit
            `input_shape` takes precedence.
        dropout: dropout rate in [0, 1) before the classifier (B0 0.2 ... B7 0.5).
        drop_connect_rate: the last block's stochastic-depth rate in [0, 1) (0.2).
        kernel_initializer: initializer of every kernel.
        kernel_regularizer: regularizer of every 1x1, stem and SE kernel (the reference
            implementation: L2 1e-5).
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; each spatial side at least 32.
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Example:
        >>> model = efficientnet(phi=1, classes=1000)   # w = 1.1, d = 1.2, r = 258
        >>> b3 = efficientnet(width_coefficient=1.2, depth_coefficient=1.4, resolution=300)

    Reference:
        Tan, Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks."
        ICML 2019 (arXiv:1905.11946), Table 1, Equation 3 and Table 2.
    """
    validate_head_args(include_top, pooling, classes, classifier_activation)
    depth, width, side = compound_coefficients(phi)
    if width_coefficient is not None:
        width = check_multiplier("width_coefficient", width_coefficient)
    if depth_coefficient is not None:
        depth = check_multiplier("depth_coefficient", depth_coefficient)
    if resolution is not None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 32:
            raise ValueError(
                f"`resolution` must be an integer >= 32; received resolution={resolution!r}."
            )
        side = resolution
    check_rate("dropout", dropout)
    check_rate("drop_connect_rate", drop_connect_rate)
    kernel_regularizer = keras.regularizers.get(kernel_regularizer)
    inputs, x = resolve_inputs(input_shape, input_tensor, (side, side, 3), min_size=32)
    common = dict(kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer)

    x = conv_bn_act(x, round_filters(STEM_CHANNELS, width), 3, stride=2, activation="silu",
                    name="stem", **common, **BN)
    stages = scaled_blocks(width, depth)
    total, index = sum(stage[-1] for stage in stages), 0
    for s, (t, k, stride, _, cout, repeats) in enumerate(stages, start=1):
        for b in range(1, repeats + 1):
            x = MBConv(
                cout, expansion=t, stride=stride if b == 1 else 1, kernel_size=k,
                drop_rate=drop_connect_rate * index / total, name=f"stage{s}_block{b}", **common,
            )(x)
            index += 1
    x = conv_bn_act(x, round_filters(HEAD_CHANNELS, width), 1, activation="silu", name="head",
                    **common, **BN)
    x = classifier_head(x, dropout=dropout, include_top=include_top, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation)
    if name is None:
        name = f"efficientnet_w{width:g}_d{depth:g}_r{inputs.shape[1]}"
    return apply_weights(keras.Model(inputs, x, name=name), weights, name)
