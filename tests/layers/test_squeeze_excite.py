import numpy as np
import pytest

from kzoo.layers import SqueezeExcite
from tests.helpers import run_layer_test
from tests.numpy_reference import squeeze_excite


def test_matches_numpy(rng):
    x = rng.normal(size=(3, 5, 4, 32)).astype("float32")
    layer = SqueezeExcite(ratio=8, kernel_initializer="random_normal")
    layer(x)
    w1, b1, w2, b2 = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights([w1, b1, w2, b2])
    assert w1.shape == (32, 4)
    np.testing.assert_allclose(layer(x), squeeze_excite(x, w1, b1, w2, b2), atol=1e-5)


def test_keeps_at_least_one_reduced_unit():
    layer = SqueezeExcite(ratio=16)
    layer.build((None, 4, 4, 8))
    assert layer.reduce_kernel.shape == (8, 1)


def test_layer_contract():
    run_layer_test(
        SqueezeExcite,
        {"ratio": 4},
        input_shape=(2, 3, 3, 8),
        expected_output_shape=(2, 3, 3, 8),
        expected_num_trainable_weights=4,
        bf16_tolerance=0.02,
    )


@pytest.mark.parametrize("ratio", [0, -2, 1.5, "4"])
def test_invalid_ratio(ratio):
    with pytest.raises(ValueError, match="ratio"):
        SqueezeExcite(ratio=ratio)


def test_rank_too_low():
    with pytest.raises(ValueError, match="rank"):
        SqueezeExcite()(np.zeros((2, 8), "float32"))


def test_kernel_regularizer_adds_l2_of_both_kernels(rng):
    x = rng.normal(size=(2, 4, 4, 16)).astype("float32")
    l2 = {"class_name": "L2", "config": {"l2": 0.01}}
    layer = SqueezeExcite(ratio=4, kernel_regularizer=l2)
    layer(x)
    w1, _, w2, _ = layer.get_weights()
    expected = 0.01 * ((w1**2).sum() + (w2**2).sum())
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-5)
    # The regulariser survives a config round trip: the clone's penalty on the same weights.
    clone = SqueezeExcite.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(float(sum(clone.losses)), expected, rtol=1e-5)
