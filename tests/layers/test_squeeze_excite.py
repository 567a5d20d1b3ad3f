import numpy as np
import pytest

from kzoo.layers import SqueezeExcite
from tests.layer_checks import run_layer_checks


def numpy_squeeze_excite(x, w1, b1, w2, b2):
    s = x.mean(axis=(1, 2))
    h = np.maximum(s @ w1 + b1, 0.0)
    g = 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))
    return x * g[:, None, None, :]


def test_matches_numpy(rng):
    x = rng.normal(size=(3, 5, 4, 32)).astype("float32")
    layer = SqueezeExcite(ratio=8, kernel_initializer="random_normal")
    layer(x)
    w1, b1, w2, b2 = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights([w1, b1, w2, b2])
    assert w1.shape == (32, 4)
    np.testing.assert_allclose(layer(x), numpy_squeeze_excite(x, w1, b1, w2, b2), atol=1e-5)


def test_keeps_at_least_one_reduced_unit():
    layer = SqueezeExcite(ratio=16)
    layer.build((None, 4, 4, 8))
    assert layer.reduce_kernel.shape == (8, 1)


def test_generic_checks(rng, tmp_path):
    x = rng.normal(size=(4, 6, 6, 16)).astype("float32")
    run_layer_checks(lambda: SqueezeExcite(ratio=4), x, tmp_path)


@pytest.mark.parametrize("ratio", [0, -2, 1.5, "4"])
def test_invalid_ratio(ratio):
    with pytest.raises(ValueError, match="ratio"):
        SqueezeExcite(ratio=ratio)


def test_rank_too_low():
    with pytest.raises(ValueError, match="rank"):
        SqueezeExcite()(np.zeros((2, 8), "float32"))


def test_kernel_regularizer_adds_l2_of_both_kernels(rng):
    x = rng.normal(size=(2, 4, 4, 16)).astype("float32")
    layer = SqueezeExcite(ratio=4, kernel_regularizer={"class_name": "L2", "config": {"l2": 0.01}})
    layer(x)
    w1, _, w2, _ = layer.get_weights()
    expected = 0.01 * ((w1**2).sum() + (w2**2).sum())
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-5)
    assert SqueezeExcite.from_config(layer.get_config()).kernel_regularizer is not None


def test_mixed_bfloat16_policy_computes_in_bf16_with_float32_weights(rng):
    import keras

    x = rng.normal(size=(2, 5, 5, 16)).astype("float32")
    layer = SqueezeExcite(ratio=4, dtype="mixed_bfloat16")
    got = layer(x)
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    assert {keras.backend.standardize_dtype(w.dtype) for w in layer.weights} == {"float32"}
    expected = numpy_squeeze_excite(x, *layer.get_weights())
    got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32"))
    assert np.max(np.abs(got - expected)) <= 0.02 * np.max(np.abs(expected))
