"""ResNeXtBlock: the grouped bottleneck against the NumPy reference of the residual blocks."""

import keras
import numpy as np
import pytest

from kzoo.counting import count_macs
from kzoo.layers import GroupedConv2D, ResNeXtBlock
from tests.helpers import run_layer_test
from tests.layers.test_residual import randomize, reference_block

CASES = [
    # (width, groups, in_channels, out_channels, size, stride, preact)
    (16, 4, 8, 12, 7, 2, False),  # wider inside than out, projection + stride
    (16, 8, 12, 12, 6, 1, False),  # identity shortcut
    (12, 3, 6, 8, 7, 2, True),  # pre-activation, projection on the pre-activated input
]


@pytest.mark.parametrize("case", CASES)
def test_block_matches_numpy_reference(case, rng):
    width, groups, cin, out, size, stride, preact = case
    layer = ResNeXtBlock(width, out_channels=out, stride=stride, groups=groups, preact=preact)
    x = rng.normal(size=(2, size, size, cin)).astype("float32")
    layer.build(x.shape)
    p = randomize(layer, rng)
    assert p["conv"][1].shape == (3, 3, width // groups, width)  # one grouped 3x3 convolution
    expected = reference_block(x, p, bottleneck=True, stride=stride, preact=preact, shortcut="B",
                               out_channels=out, groups=groups)
    np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-4, atol=1e-4)


def test_macs_by_hand():
    layer = ResNeXtBlock(16, out_channels=12, stride=2, groups=4)
    layer.build((None, 8, 8, 8))
    # 1x1 8->16 at 8x8; grouped 3x3 (4 input channels per filter) 16->16 at 4x4; 1x1 16->12 and
    # the 1x1 projection 8->12 at 4x4.
    assert count_macs(layer) == 8 * 16 * 64 + 9 * 4 * 16 * 16 + 16 * 12 * 16 + 8 * 12 * 16


def test_generic_checks(rng, tmp_path):
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    # Three convolutions (1x1, grouped 3x3, 1x1), each with a batch norm; identity shortcut.
    run_layer_test(ResNeXtBlock, {"filters": 16, "out_channels": 8, "groups": 4}, input_data=x,
                   expected_output_shape=(2, 6, 6, 8), expected_num_trainable_weights=3 + 3 * 2,
                   expected_num_non_trainable_weights=3 * 2)


def test_grouped_convolution_is_tensorflows_kernel():
    layer = ResNeXtBlock(16, out_channels=8, groups=4)
    layer.build((None, 6, 6, 8))
    assert [type(c) for c in layer.convs] == [keras.layers.Conv2D, GroupedConv2D, keras.layers.Conv2D]
    assert ResNeXtBlock(16, out_channels=8).convs[1].__class__ is keras.layers.Conv2D


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(filters=16, out_channels=0), "out_channels"),
        (dict(filters=16, out_channels=8, groups=3), "groups"),
        (dict(filters=16, out_channels=8, stride=3), "stride"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNeXtBlock(**kwargs)
