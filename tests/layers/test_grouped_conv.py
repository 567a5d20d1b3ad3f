"""GroupedConv2D: Keras' Conv2D results (and NumPy's) through TensorFlow's grouped kernel."""

import keras
import numpy as np
import pytest

from kzoo.counting import count_macs
from kzoo.layers import GroupedConv2D
from tests.helpers import run_layer_test
from tests.numpy_reference import conv as reference_conv


@pytest.mark.parametrize("groups, cin, filters, stride, size", [(4, 8, 12, 1, 6), (8, 16, 8, 2, 7)])
def test_matches_numpy_and_keras_conv2d(groups, cin, filters, stride, size, rng):
    padding = "same" if stride == 1 else "valid"
    layer = GroupedConv2D(filters, 3, strides=stride, padding=padding, groups=groups,
                          use_bias=False)
    x = rng.normal(size=(2, size, size, cin)).astype("float32")
    layer.build(x.shape)
    w = rng.normal(size=layer.kernel.shape).astype("float32")
    layer.set_weights([w])
    got = keras.ops.convert_to_numpy(layer(x))
    if stride == 1:
        np.testing.assert_allclose(got, reference_conv(x, w, 1, "symmetric", groups), rtol=1e-4, atol=1e-4)
    # Keras' own Conv2D (its XLA path on CPU) with the same kernel: outputs and gradients.
    keras_conv = keras.layers.Conv2D(filters, 3, strides=stride, padding=padding, groups=groups,
                                     use_bias=False)
    keras_conv.build(x.shape)
    keras_conv.set_weights([w])
    np.testing.assert_allclose(got, keras_conv(x), rtol=1e-5, atol=1e-5)
    import tensorflow as tf

    gradients = []
    for conv in (layer, keras_conv):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(conv(x)))
        gradients.append(tape.gradient(loss, conv.kernel).numpy())
    np.testing.assert_allclose(*gradients, rtol=1e-4, atol=1e-4)


def test_counts_as_a_convolution():
    layer = GroupedConv2D(16, 3, padding="same", groups=4, use_bias=False)
    layer.build((None, 5, 5, 8))
    assert count_macs(layer) == 9 * 2 * 16 * 25


def test_generic_checks(rng, tmp_path):
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    run_layer_test(GroupedConv2D, {"filters": 8, "kernel_size": 3, "padding": "same", "groups": 4},
                   input_data=x, expected_output_shape=(2, 6, 6, 8),
                   expected_num_trainable_weights=2)  # kernel, bias


def test_mixed_bfloat16(rng):
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    layer = GroupedConv2D(8, 3, padding="same", groups=2, dtype="mixed_bfloat16")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    w, b = layer.get_weights()
    expected = reference_conv(x, w, 1, "symmetric", 2) + b
    got = keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
    assert np.max(np.abs(got - expected)) <= 0.02 * np.max(np.abs(expected))
