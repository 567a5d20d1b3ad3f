import keras
import numpy as np
import pytest

from kzoo.layers import WeightNormConv1D, WeightNormConv2D, WeightNormDense
from tests.helpers import check_kernel_regularizer, random_weights, run_layer_test
from tests.numpy_reference import conv


def numpy_weight_norm_dense(x, v, g, b, activation=lambda z: z):
    w = g * v / np.linalg.norm(v, axis=0)
    return activation(x @ w + b)


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


def test_dense_layer_contract():
    run_layer_test(
        WeightNormDense,
        {"units": 4, "activation": "relu"},
        input_shape=(4, 5),
        expected_output_shape=(4, 4),
        expected_num_trainable_weights=3,
    )


def test_kernel_regularizer_reaches_the_kernel():
    check_kernel_regularizer(WeightNormDense, {"units": 3}, (2, 5), num_kernels=1)


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


# ---- convolutions ---------------------------------------------------------------------------------

CONV = {1: WeightNormConv1D, 2: WeightNormConv2D}
KERAS_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}


def numpy_weight_norm_conv(x, v, g, b, strides, padding):
    axes = tuple(range(v.ndim - 1))
    w = g * v / np.sqrt(np.sum(v**2, axis=axes))
    return conv(x, w, strides, padding) + b


@pytest.mark.parametrize(
    "rank, kernel_size, strides, padding, shape, out_spatial",
    [
        (1, 3, 1, "same", (2, 11, 3), (11,)),
        (1, 3, 2, "same", (2, 12, 2), (6,)),  # odd total padding: 0 before, 1 after
        (1, 5, 2, "valid", (2, 12, 2), (4,)),
        (2, 3, 1, "same", (2, 8, 8, 1), (8, 8)),
        (2, 3, 2, "same", (2, 8, 7, 3), (4, 4)),
        (2, (3, 2), (2, 1), "valid", (2, 9, 6, 3), (4, 5)),
    ],
)
def test_conv_matches_numpy(rank, kernel_size, strides, padding, shape, out_spatial, rng):
    x = rng.normal(size=shape).astype("float32")
    layer = CONV[rank](5, kernel_size, strides=strides, padding=padding)
    layer(x)
    v, g, b = random_weights(layer, rng)
    assert (g.shape, b.shape) == ((5,), (5,)) and v.shape[-2:] == (shape[-1], 5)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (shape[0], *out_spatial, 5)
    np.testing.assert_allclose(
        y, numpy_weight_norm_conv(x, v, g, b, layer.strides, padding), atol=1e-5
    )
    # The same w in Keras' own ConvND (what plain CNNs use otherwise) gives the same output.
    reference = KERAS_CONV[rank](5, kernel_size, strides=strides, padding=padding)
    reference(x)
    reference.set_weights([keras.ops.convert_to_numpy(layer.effective_kernel()), b])
    np.testing.assert_allclose(y, reference(x), atol=1e-5)


def test_conv_no_bias_with_activation(rng):
    x = rng.normal(size=(3, 10, 2)).astype("float32")
    layer = WeightNormConv1D(4, 3, padding="same", activation="tanh", use_bias=False)
    layer(x)
    v, g = random_weights(layer, rng)
    expected = np.tanh(numpy_weight_norm_conv(x, v, g, 0.0, (1,), "same"))
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


@pytest.mark.parametrize("rank, shape", [(1, (4, 9, 3)), (2, (4, 6, 6, 3))])
def test_conv_initial_kernel_equals_v_and_output_ignores_norm_of_v(rank, shape, rng):
    x = rng.normal(size=shape).astype("float32")
    layer = CONV[rank](3, 3, padding="same")
    layer.build((None, *shape[1:]))
    v = keras.ops.convert_to_numpy(layer.kernel)
    axes = tuple(range(rank + 1))
    np.testing.assert_allclose(layer.g, np.sqrt(np.sum(v**2, axis=axes)), rtol=1e-6)
    np.testing.assert_allclose(layer.effective_kernel(), v, atol=1e-6)
    y = keras.ops.convert_to_numpy(layer(x))
    layer.kernel.assign(v * np.array([10.0, 0.1, 3.0], "float32"))  # a different scale per filter
    np.testing.assert_allclose(layer(x), y, atol=1e-5)
    layer.kernel.assign(v * np.float32(1e-3))
    np.testing.assert_allclose(layer(x), y, atol=1e-5)


@pytest.mark.parametrize(
    "cls, kwargs, shape, out_shape",
    [
        (WeightNormConv1D, {"padding": "same", "activation": "relu"}, (2, 6, 2), (2, 6, 3)),
        (WeightNormConv2D, {"strides": 2, "padding": "same"}, (2, 5, 5, 2), (2, 3, 3, 3)),
    ],
)
def test_conv_layer_contract(cls, kwargs, shape, out_shape):
    run_layer_test(
        cls,
        {"filters": 3, "kernel_size": 3, **kwargs},
        input_shape=shape,
        expected_output_shape=out_shape,
        expected_num_trainable_weights=3,
    )


def test_conv_kernel_regularizer_reaches_the_kernel():
    check_kernel_regularizer(
        WeightNormConv2D, {"filters": 3, "kernel_size": 2}, (2, 4, 4, 2), num_kernels=1
    )


@pytest.mark.parametrize(
    "cls, kwargs, name",
    [
        (WeightNormConv1D, {"filters": 0, "kernel_size": 3}, "filters"),
        (WeightNormConv2D, {"filters": "8", "kernel_size": 3}, "filters"),
        (WeightNormConv1D, {"filters": 4, "kernel_size": 0}, "kernel_size"),
        (WeightNormConv1D, {"filters": 4, "kernel_size": (3, 3)}, "kernel_size"),
        (WeightNormConv2D, {"filters": 4, "kernel_size": (3,)}, "kernel_size"),
        (WeightNormConv2D, {"filters": 4, "kernel_size": (3, 2.0)}, "kernel_size"),
        (WeightNormConv2D, {"filters": 4, "kernel_size": 3, "strides": 0}, "strides"),
        (WeightNormConv1D, {"filters": 4, "kernel_size": 3, "strides": (1, 1)}, "strides"),
        (WeightNormConv2D, {"filters": 4, "kernel_size": 3, "padding": "causal"}, "padding"),
        (WeightNormConv2D, {"filters": 4, "kernel_size": 3, "padding": "SAME"}, "padding"),
        (WeightNormConv1D, {"filters": 4, "kernel_size": 3, "activation": "nope"}, "activation"),
        (WeightNormConv2D, {"filters": 4, "kernel_size": 3, "use_bias": 1}, "use_bias"),
    ],
)
def test_conv_invalid_args(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


@pytest.mark.parametrize(
    "layer, shape, match",
    [
        (lambda: WeightNormConv2D(4, 3), (None, 10, 3), "rank 4"),
        (lambda: WeightNormConv1D(4, 3), (None, 10, None), "channel"),
        (lambda: WeightNormConv2D(4, 5), (None, 4, 8, 1), "kernel_size"),
    ],
)
def test_conv_bad_input_shape(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer().build(shape)
