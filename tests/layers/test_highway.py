import keras
import numpy as np
import pytest

from kzoo.layers import Highway
from tests.helpers import check_kernel_regularizer, random_weights, run_layer_test
from tests.numpy_reference import sigmoid


def numpy_highway(x, kernel, bias, activation):
    units = x.shape[-1]
    z = x @ kernel + bias
    t = sigmoid(z[:, units:])
    return t * activation(z[:, :units]) + (1.0 - t) * x, t


@pytest.mark.parametrize(
    "activation, np_activation", [("relu", lambda z: np.maximum(z, 0.0)), ("tanh", np.tanh)]
)
def test_matches_numpy(rng, activation, np_activation):
    x = rng.normal(size=(5, 12)).astype("float32")
    layer = Highway(12, activation=activation)
    layer(x)
    kernel, bias = random_weights(layer, rng)
    y_ref, t_ref = numpy_highway(x, kernel, bias, np_activation)
    np.testing.assert_allclose(layer(x), y_ref, atol=1e-5)
    np.testing.assert_allclose(layer.transform_gate(x), t_ref, atol=1e-6)


def test_one_matmul_and_gate_bias_init():
    layer = Highway(16, transform_bias_init=-3.0)
    layer.build((None, 16))
    assert [tuple(w.shape) for w in layer.weights] == [(16, 32), (32,)]
    bias = keras.ops.convert_to_numpy(layer.bias)
    np.testing.assert_array_equal(bias, np.r_[np.zeros(16), np.full(16, -3.0)])


def test_fresh_layer_mostly_carries(rng):
    x = rng.normal(size=(64, 32)).astype("float32")
    gate = keras.ops.convert_to_numpy(Highway(32).transform_gate(x))
    assert gate.shape == (64, 32)
    assert 0.05 < gate.mean() < 0.25  # around sigmoid(-2) = 0.12


def test_very_negative_gate_bias_passes_input_through(rng):
    x = rng.normal(size=(16, 24)).astype("float32")
    y = keras.ops.convert_to_numpy(Highway(24, transform_bias_init=-20.0)(x))
    assert np.abs(y - x).max() < 1e-6


def test_layer_contract():
    run_layer_test(
        Highway,
        {"units": 6, "activation": "tanh", "transform_bias_init": -1.0},
        input_shape=(4, 6),
        expected_output_shape=(4, 6),
        expected_num_trainable_weights=2,
    )


def test_kernel_regularizer_reaches_the_kernel():
    check_kernel_regularizer(Highway, {"units": 6}, (2, 6), num_kernels=1)


def test_transform_gate_follows_the_dtype_policy(rng):
    x = rng.normal(size=(4, 8)).astype("float32")
    layer = Highway(8, dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(layer.transform_gate(x).dtype) == "bfloat16"


def test_wrong_input_width_names_both():
    with pytest.raises(ValueError, match=r"units=8.*width 5"):
        Highway(8)(np.zeros((2, 5), "float32"))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"units": 0}, "units"),
        ({"units": -3}, "units"),
        ({"units": 2.0}, "units"),
        ({"units": 4, "activation": "no_such_activation"}, "activation"),
        ({"units": 4, "transform_bias_init": "low"}, "transform_bias_init"),
    ],
)
def test_invalid_args(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Highway(**kwargs)
