import keras
import numpy as np
import pytest

from kzoo.layers import WeightNormDense
from tests.layer_checks import run_layer_checks


def numpy_weight_norm_dense(x, v, g, b, activation=lambda z: z):
    w = g * v / np.linalg.norm(v, axis=0)
    return activation(x @ w + b)


def random_weights(layer, rng):
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    return weights


def test_matches_numpy(rng):
    x = rng.normal(size=(6, 9)).astype("float32")
    layer = WeightNormDense(5, activation="tanh")
    layer(x)
    v, g, b = random_weights(layer, rng)
    assert (v.shape, g.shape, b.shape) == ((9, 5), (5,), (5,))
    np.testing.assert_allclose(layer(x), numpy_weight_norm_dense(x, v, g, b, np.tanh), atol=1e-5)


def test_no_bias_and_rank_3(rng):
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = WeightNormDense(7, use_bias=False)
    layer(x)
    v, g = random_weights(layer, rng)
    np.testing.assert_allclose(layer(x), numpy_weight_norm_dense(x, v, g, 0.0), atol=1e-5)


def test_initial_kernel_equals_v_and_output_ignores_norm_of_v(rng):
    x = rng.normal(size=(4, 8)).astype("float32")
    layer = WeightNormDense(3)
    layer.build((None, 8))
    v = keras.ops.convert_to_numpy(layer.kernel)
    np.testing.assert_allclose(layer.g, np.linalg.norm(v, axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.effective_kernel(), v, atol=1e-6)
    y = keras.ops.convert_to_numpy(layer(x))
    layer.kernel.assign(v * np.array([10.0, 0.1, 3.0], "float32"))
    np.testing.assert_allclose(layer(x), y, atol=1e-5)


def test_generic_checks(rng, tmp_path):
    x = rng.normal(size=(8, 10)).astype("float32")
    run_layer_checks(lambda: WeightNormDense(4, activation="relu"), x, tmp_path)


def test_kernel_regularizer_adds_l2_loss(rng):
    layer = WeightNormDense(3, kernel_regularizer=keras.regularizers.L2(1e-2))
    layer(rng.normal(size=(2, 5)).astype("float32"))
    v, _, _ = random_weights(layer, rng)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 1e-2 * np.sum(v**2), rtol=1e-5)
    assert layer.get_config()["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-2)


def test_mixed_precision(rng):
    layer = WeightNormDense(3, dtype="mixed_bfloat16")
    y = layer(rng.normal(size=(4, 8)).astype("float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(layer.g.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"units": 0}, "units"),
        ({"units": -4}, "units"),
        ({"units": "8"}, "units"),
        ({"units": 4, "activation": "no_such_activation"}, "activation"),
        ({"units": 4, "use_bias": None}, "use_bias"),
    ],
)
def test_invalid_args(kwargs, name):
    with pytest.raises(ValueError, match=name):
        WeightNormDense(**kwargs)
