"""InvertedResidual and MBConv against NumPy, stochastic depth on the branch, MACs by hand and
the generic layer checks."""

import keras
import numpy as np
import pytest

from kzoo.counting import count_macs
from kzoo.layers import InvertedResidual, MBConv
from tests.helpers import run_layer_test
from tests.layers import numpy_mobile as nm


def randomize_block(layer, rng):
    """Random weights for every part of a built block; returns them by role."""
    p = {}
    if layer.expand_conv is not None:
        p["expand"] = (nm.randomize(layer.expand_conv, rng)[0], nm.randomize_bn(layer.expand_bn, rng))
    p["depthwise"] = (nm.randomize(layer.depthwise, rng)[0], nm.randomize_bn(layer.depthwise_bn, rng))
    if layer.se_reduce is not None:
        p["se"] = nm.randomize(layer.se_reduce, rng) + nm.randomize(layer.se_expand, rng)
    p["project"] = (nm.randomize(layer.project_conv, rng)[0], nm.randomize_bn(layer.project_bn, rng))
    return p


def reference(x, p, *, stride, act, eps, shortcut):
    """Sandler et al. Fig. 3 / Tan & Le's MBConv: expand, depthwise, [SE], linear projection."""
    h = x
    if "expand" in p:
        w, bn = p["expand"]
        h = act(nm.bn(h @ w[0, 0], bn, eps))
    w, bn = p["depthwise"]
    h = act(nm.bn(nm.depthwise(h, w, stride), bn, eps))
    if "se" in p:
        w1, b1, w2, b2 = p["se"]
        gate = nm.sigmoid(act(h.mean(axis=(1, 2)) @ w1 + b1) @ w2 + b2)
        h = h * gate[:, None, None, :]
    w, bn = p["project"]
    h = nm.bn(h @ w[0, 0], bn, eps)  # linear: no activation after the projection
    return x + h if shortcut else h


CASES = [
    # (class, filters, in_channels, size, stride, expansion, kernel_size, shortcut)
    (InvertedResidual, 8, 8, 6, 1, 6, 3, True),
    (InvertedResidual, 12, 8, 7, 2, 6, 3, False),
    (InvertedResidual, 6, 8, 5, 1, 1, 3, False),  # t = 1: no expansion convolution
    (MBConv, 8, 8, 6, 1, 6, 5, True),
    (MBConv, 16, 8, 9, 2, 6, 5, False),
    (MBConv, 4, 8, 6, 1, 1, 3, False),
]


@pytest.mark.parametrize("case", CASES)
def test_matches_numpy(case, rng):
    cls, filters, cin, size, stride, expansion, k, shortcut = case
    layer = cls(filters, expansion=expansion, stride=stride, kernel_size=k)
    x = rng.normal(size=(2, size, size, cin)).astype("float32")
    layer.build(x.shape)
    assert layer.has_shortcut is shortcut
    assert (layer.expand_conv is None) == (expansion == 1)
    p = randomize_block(layer, rng)
    if cls is MBConv:
        # SE units: a quarter of the block's INPUT channels (the reference implementation).
        assert p["se"][0].shape == (cin * expansion, cin // 4)
        act, eps = nm.silu, 1e-3
    else:
        assert "se" not in p
        act, eps = nm.relu6, 1e-5
    expected = reference(x, p, stride=stride, act=act, eps=eps, shortcut=shortcut)
    got = keras.ops.convert_to_numpy(layer(x, training=False))
    assert got.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_stochastic_depth_drops_the_branch_of_whole_examples(rng):
    x = rng.normal(size=(32, 5, 5, 8)).astype("float32")
    dropping = MBConv(8, drop_rate=0.5)
    plain = MBConv(8)
    dropping.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(dropping.get_weights())
    # At inference the rate changes nothing.
    np.testing.assert_allclose(dropping(x, training=False), plain(x, training=False), atol=1e-6)
    # In training, each example gets x (branch dropped) or x + branch / (1 - 0.5).
    branch = keras.ops.convert_to_numpy(plain(x, training=True)) - x
    y = keras.ops.convert_to_numpy(dropping(x, training=True))
    dropped = np.all(np.isclose(y, x, atol=1e-6), axis=(1, 2, 3))
    kept = np.all(np.isclose(y, x + 2 * branch, atol=1e-4), axis=(1, 2, 3))
    assert np.all(dropped ^ kept) and 0 < dropped.sum() < 32


def test_no_stochastic_depth_without_a_shortcut():
    layer = MBConv(16, stride=2, drop_rate=0.2)
    layer.build((None, 8, 8, 8))
    assert layer.stochastic_depth is None and not layer.has_shortcut


def test_macs_by_hand():
    layer = MBConv(16, expansion=6, stride=2, kernel_size=5)
    layer.build((None, 8, 8, 8))
    # Expand 8 -> 48 at 8x8; depthwise 5x5 x 48 at 4x4; SE 48 -> 2 -> 48 once per example;
    # project 48 -> 16 at 4x4.
    assert count_macs(layer) == 8 * 48 * 64 + 25 * 48 * 16 + 2 * 48 * 2 + 48 * 16 * 16


# Expansion, depthwise and projection convolutions, each with a batch norm; MBConv adds a
# squeeze-and-excitation pair of biased dense layers.
@pytest.mark.parametrize("layer_cls, kwargs, shape, trainable", [
    (InvertedResidual, {"filters": 6, "expansion": 4, "stride": 2}, (2, 3, 3, 6), 3 + 3 * 2),
    (MBConv, {"filters": 6, "drop_rate": 0.2}, (2, 5, 5, 6), 3 + 3 * 2 + 2 * 2),
])
def test_generic_checks(layer_cls, kwargs, shape, trainable, rng):
    x = rng.normal(size=(2, 5, 5, 6)).astype("float32")
    run_layer_test(layer_cls, kwargs, input_data=x, expected_output_shape=shape,
                   expected_num_trainable_weights=trainable,
                   expected_num_non_trainable_weights=3 * 2)


def test_mixed_bfloat16_keeps_float32_weights(rng):
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    layer = MBConv(8, dtype="mixed_bfloat16")
    y = layer(x, training=False)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert {keras.backend.standardize_dtype(w.dtype) for w in layer.trainable_weights} == {"float32"}
    reference_layer = MBConv(8)
    reference_layer.build(x.shape)
    reference_layer.set_weights(layer.get_weights())
    expected = keras.ops.convert_to_numpy(reference_layer(x, training=False))
    got = keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
    assert np.max(np.abs(got - expected)) <= 0.05 * np.max(np.abs(expected))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(filters=0), "filters"),
        (dict(filters=4, expansion=0), "expansion"),
        (dict(filters=4, stride=0), "stride"),
        (dict(filters=4, kernel_size=2), "kernel_size"),
        (dict(filters=4, se_ratio=1.5), "se_ratio"),
        (dict(filters=4, drop_rate=1.0), "drop_rate"),
        (dict(filters=4, activation=3), "activation"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InvertedResidual(**kwargs)
