"""DepthwiseSeparableBlock against NumPy, its MACs by hand, and the generic layer checks."""

import keras
import numpy as np
import pytest

from kzoo.counting import count_macs
from kzoo.layers import DepthwiseSeparableBlock
from tests.helpers import run_layer_test
from tests.layers import numpy_mobile as nm


@pytest.mark.parametrize(
    "filters, cin, size, stride, kernel_size, activation",
    [(6, 4, 6, 1, 3, "relu"), (8, 4, 7, 2, 3, "relu"), (5, 3, 8, 2, 5, "relu6")],
)
def test_matches_numpy(filters, cin, size, stride, kernel_size, activation, rng):
    layer = DepthwiseSeparableBlock(filters, stride=stride, kernel_size=kernel_size,
                                    activation=activation)
    x = rng.normal(size=(2, size, size, cin)).astype("float32")
    layer.build(x.shape)
    (wd,) = nm.randomize(layer.depthwise, rng)
    (wp,) = nm.randomize(layer.pointwise, rng)
    bn1, bn2 = nm.randomize_bn(layer.depthwise_bn, rng), nm.randomize_bn(layer.pointwise_bn, rng)
    act = {"relu": nm.relu, "relu6": nm.relu6}[activation]
    h = act(nm.bn(nm.depthwise(x, wd, stride), bn1, 1e-5))
    expected = act(nm.bn(h @ wp[0, 0], bn2, 1e-5))
    got = keras.ops.convert_to_numpy(layer(x, training=False))
    assert got.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_macs_by_hand():
    layer = DepthwiseSeparableBlock(32, stride=2)
    layer.build((None, 9, 9, 16))
    # Depthwise 3x3 x 16 channels and pointwise 16 -> 32, both at the 5x5 output.
    assert count_macs(layer) == (9 * 16 + 16 * 32) * 25


def test_regularizers_apply_where_asked(rng):
    layer = DepthwiseSeparableBlock(4, kernel_regularizer=keras.regularizers.L2(0.1))
    layer(rng.normal(size=(1, 4, 4, 3)).astype("float32"))
    (wp,) = layer.pointwise.get_weights()
    # Only the pointwise kernel is decayed by default (the paper's advice for depthwise filters).
    np.testing.assert_allclose(float(sum(layer.losses)), 0.1 * (wp**2).sum(), rtol=1e-5)


def test_generic_checks(rng, tmp_path):
    x = rng.normal(size=(2, 7, 7, 4)).astype("float32")
    # Depthwise and pointwise kernels, each followed by a batch norm (gamma, beta | mean, variance).
    run_layer_test(DepthwiseSeparableBlock, {"filters": 8, "stride": 2}, input_data=x,
                   expected_output_shape=(2, 4, 4, 8), expected_num_trainable_weights=2 + 2 * 2,
                   expected_num_non_trainable_weights=2 * 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(filters=0), "filters"),
        (dict(filters=4, stride=3), "stride"),
        (dict(filters=4, kernel_size=4), "kernel_size"),
        (dict(filters=4, activation="swoosh"), "activation"),
        (dict(filters=4, bn_momentum=1.0), "bn_momentum"),
        (dict(filters=4, bn_epsilon=0), "bn_epsilon"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DepthwiseSeparableBlock(**kwargs)
