import numpy as np
import pytest

from kzoo.layers import SqueezeExcite
from tests.helpers import check_kernel_regularizer, run_layer_test
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


def test_kernel_regularizer_reaches_both_kernels():
    check_kernel_regularizer(SqueezeExcite, {"ratio": 4}, (2, 4, 4, 16), num_kernels=2)
