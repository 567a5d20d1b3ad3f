"""FusedBatchNormalization gives Keras' BatchNormalization results: outputs, statistics, gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.layers import FusedBatchNormalization
from tests.helpers import run_layer_test
from tests.numpy_reference import randomize_batch_norm, randomize_kernel


def _pair(shape, rng, dtype=None, **kwargs):
    """A Keras BN and a fused BN with the same non-trivial weights, both built for `shape`."""
    reference = keras.layers.BatchNormalization(dtype=dtype, **kwargs)
    fused = FusedBatchNormalization(dtype=dtype, **kwargs)
    reference.build(shape)
    fused.build(shape)
    fused.set_weights(randomize_batch_norm(reference, rng))
    return reference, fused


def test_training_step_matches_keras_outputs_statistics_and_gradients(rng):
    x = tf.constant(rng.normal(2.0, 3.0, (8, 5, 6, 4)).astype("float32"))
    reference, fused = _pair(x.shape, rng, momentum=0.9, epsilon=1e-5)
    grads = []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.cos(y))
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    np.testing.assert_allclose(fused(x, training=False), reference(x, training=False), atol=1e-5)
    for a, b in zip(grads[0], grads[1], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
    # gamma, beta and the moving statistics after one step (Keras' rule, biased variance).
    for a, b in zip(reference.get_weights(), fused.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_training_output_is_the_batch_normalised_input(rng):
    x = rng.normal(1.0, 2.0, (6, 4, 4, 3)).astype("float32")
    layer = FusedBatchNormalization(momentum=0.5, epsilon=1e-3)
    y = layer(x, training=True).numpy()
    mean, var = x.reshape(-1, 3).mean(0), x.reshape(-1, 3).var(0)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * mean, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * var, atol=1e-5)


def test_mixed_bfloat16_matches_keras_within_bfloat16_precision(rng, mixed_bfloat16):
    x = tf.constant(rng.normal(size=(8, 4, 4, 16)).astype("float32"))
    reference, fused = _pair(x.shape, rng)
    for training in (True, False):
        a, b = reference(x, training=training), fused(x, training=training)
        assert b.dtype == a.dtype == "bfloat16"
        np.testing.assert_allclose(np.float32(b), np.float32(a), atol=0.05, rtol=0.02)


def test_other_inputs_fall_back_to_keras(rng):
    x = rng.normal(size=(16, 7)).astype("float32")
    reference, fused = _pair(x.shape, rng)
    np.testing.assert_allclose(fused(x, training=True), reference(x, training=True), atol=1e-5)
    x = rng.normal(size=(4, 3, 5, 6)).astype("float32")
    reference, fused = _pair(x.shape, rng, axis=1)
    np.testing.assert_allclose(fused(x, training=True), reference(x, training=True), atol=1e-5)


def test_layer_contract():
    run_layer_test(
        FusedBatchNormalization,
        {"momentum": 0.8, "epsilon": 1e-4},
        input_shape=(4, 3, 3, 16),
        expected_output_shape=(4, 3, 3, 16),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
    )


@pytest.mark.parametrize("channels", [24, 32])
def test_mixed_bfloat16_training_matches_numpy_for_any_channel_count(channels, rng):
    """24 channels are padded to 32 on CPU for oneDNN's vectorised bf16 kernel, 32 are not."""
    from kzoo.layers.batch_norm import _bf16_channel_padding, _kernel_dtype

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert _kernel_dtype("bfloat16", channels) == "bfloat16"
    assert _kernel_dtype("float32", channels) == "float32"
    expected_pad = 8 if channels == 24 and not on_gpu else 0
    assert _bf16_channel_padding("bfloat16", channels) == expected_pad
    assert _bf16_channel_padding("float32", channels) == 0
    x = rng.normal(1.0, 2.0, (4, 5, 5, channels)).astype("float32")
    layer = FusedBatchNormalization(epsilon=1e-3, dtype="mixed_bfloat16")
    weight = tf.constant(rng.normal(size=x.shape).astype("float32"))
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(tf.cast(y, "float32") * weight)
    dx = tape.gradient(loss, xt).numpy()
    assert y.dtype == "bfloat16"
    xb = np.float32(tf.cast(tf.cast(x, "bfloat16"), "float32"))  # what the layer sees
    flat = xb.reshape(-1, channels)
    mean, var = flat.mean(0), flat.var(0)
    xhat = (xb - mean) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(np.float32(y), xhat, atol=0.03, rtol=0.01)
    # d/dx of sum(w * xhat): (w - mean(w) - xhat * mean(w * xhat)) / sqrt(var + eps).
    w = weight.numpy()
    axes = (0, 1, 2)
    expected = (w - w.mean(axes) - xhat * (w * xhat).mean(axes)) / np.sqrt(var + 1e-3)
    np.testing.assert_allclose(dx, expected, atol=0.05 * np.abs(expected).max())


def _bf16_step(layer, x, weight, pad_channels, monkeypatch):
    """One training step then an inference call of `layer` under bf16; padded path or not."""
    import kzoo.layers.batch_norm as bn_module

    monkeypatch.setattr(bn_module, "_PAD_BF16_CHANNELS", pad_channels)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, "float32") * weight)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    assert [g.shape for g in grads[1:]] == [layer.gamma.shape] * 2
    stats = [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
    return [np.float32(y), *(np.float32(g) for g in grads), *stats, np.float32(layer(x))]


@pytest.mark.parametrize("channels", [12, 20, 40])
def test_padded_bfloat16_equals_the_float32_round_trip_and_numpy(channels, rng, monkeypatch):
    """Channels padded with zeros to a multiple of 16 change no result, weight or gradient shape."""
    from kzoo.layers.batch_norm import _bf16_channel_padding

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("the padding applies on CPU only")
    assert _bf16_channel_padding("bfloat16", channels) == -channels % 16 > 0
    shape = (6, 4, 4, channels)
    x = tf.constant(rng.normal(1.0, 2.0, shape).astype("float32"))
    weight = tf.constant(rng.normal(size=shape).astype("float32"))
    layers = [FusedBatchNormalization(momentum=0.8, dtype="mixed_bfloat16") for _ in range(2)]
    for layer in layers:
        layer.build(shape)
    values = randomize_batch_norm(layers[0], rng)
    layers[1].set_weights([v.astype("float32") for v in values])
    padded = _bf16_step(layers[0], x, weight, True, monkeypatch)
    detour = _bf16_step(layers[1], x, weight, False, monkeypatch)
    assert all(w.shape == (channels,) for w in layers[0].weights)
    names = ["output", "d/dx", "d/dgamma", "d/dbeta", "moving mean", "moving var", "inference"]
    for name, a, b in zip(names, padded, detour, strict=True):
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, atol=0.02 * scale, rtol=0.02, err_msg=name)

    # NumPy, from the bf16 input the layer sees; gamma/beta gradients of sum(w * y).
    gamma, beta, mean0, var0 = values
    xb = np.float32(tf.cast(tf.cast(x, "bfloat16"), "float32"))
    w = np.float32(tf.cast(tf.cast(weight, "bfloat16"), "float32"))
    mean, var = xb.reshape(-1, channels).mean(0), xb.reshape(-1, channels).var(0)
    xhat = (xb - mean) / np.sqrt(var + 1e-3)
    axes = (0, 1, 2)
    dx = gamma * (w - w.mean(axes) - xhat * (w * xhat).mean(axes)) / np.sqrt(var + 1e-3)
    moving_mean, moving_var = 0.8 * mean0 + 0.2 * mean, 0.8 * var0 + 0.2 * var
    inference = gamma * (xb - moving_mean) / np.sqrt(moving_var + 1e-3) + beta
    expected = [
        gamma * xhat + beta,
        dx,
        (w * xhat).sum(axes),
        w.sum(axes),
        moving_mean,
        moving_var,
        inference,
    ]
    for name, a, b in zip(names, padded, expected, strict=True):
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, atol=0.02 * scale, rtol=0.02, err_msg=name)


def _conv_and_norm(rng, in_channels, filters, kernel, stride, padding, dtype=None, groups=1):
    conv = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                               groups=groups, dtype=dtype)
    norm = FusedBatchNormalization(epsilon=1e-5, dtype=dtype)
    conv.build((None, 9, 9, in_channels))
    norm.build((None, 9, 9, filters))
    randomize_kernel(conv, rng, 0.3)
    randomize_batch_norm(norm, rng)
    return conv, norm


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, "same"), (3, 2, "valid"), (1, 2, "same")])
def test_folded_inference_equals_convolution_then_normalisation(kernel, stride, padding, rng):
    from kzoo.layers.batch_norm import conv_then_norm

    conv, norm = _conv_and_norm(rng, 6, 8, kernel, stride, padding)
    x = rng.normal(size=(3, 9, 9, 6)).astype("float32")
    gamma, beta, mean, var = norm.get_weights()
    expected = (np.asarray(conv(x)) - mean) / np.sqrt(var + 1e-5) * gamma + beta
    np.testing.assert_allclose(conv_then_norm(conv, norm, x, training=False), expected, atol=1e-5)
    np.testing.assert_allclose(conv_then_norm(conv, norm, x), expected, atol=1e-5)
    # Training normalises with the batch statistics and updates the moving ones, unfolded.
    before = norm.moving_mean.numpy().copy()
    y = conv_then_norm(conv, norm, x, training=True).numpy()
    np.testing.assert_allclose(y.reshape(-1, 8).mean(0), beta, atol=1e-4)
    assert not np.allclose(norm.moving_mean.numpy(), before)


def test_folding_under_mixed_bfloat16_stays_within_bfloat16_precision(rng):
    from kzoo.layers.batch_norm import conv_then_norm

    conv, norm = _conv_and_norm(rng, 16, 16, 3, 1, "same", dtype="mixed_bfloat16")
    x = rng.normal(size=(2, 9, 9, 16)).astype("float32")
    folded = conv_then_norm(conv, norm, x, training=False)
    unfolded = norm(conv(x), training=False)
    assert folded.dtype == unfolded.dtype == "bfloat16"
    a, b = np.float32(folded), np.float32(unfolded)
    assert np.max(np.abs(a - b)) <= 0.02 * np.max(np.abs(b))


def test_grouped_convolutions_are_not_folded(rng):
    from kzoo.layers.batch_norm import _foldable

    grouped, norm = _conv_and_norm(rng, 8, 8, 3, 1, "same", groups=2)
    plain, _ = _conv_and_norm(rng, 8, 8, 3, 1, "same")
    assert _foldable(plain, norm) and not _foldable(grouped, norm)
    assert not _foldable(plain, keras.layers.BatchNormalization())
