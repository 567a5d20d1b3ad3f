"""L2 weight decay by cloning: the penalty is lambda/2 * sum of squared kernels, gradient lambda * W."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.training import with_kernel_l2
from kzoo.training.regularization import kernel_variables

WD = 5e-4


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("plain_cnn", {"depth": 4, "input_shape": (8, 8, 1)}),
        ("resnet20", {"input_shape": (8, 8, 1)}),  # composite residual blocks
        ("highway_mlp", {"depth": 3, "input_shape": (64,)}),
    ],
)
def test_clone_adds_half_lambda_times_sum_of_squared_kernels(name, kwargs):
    model = kzoo.create_model(name, classes=10, **kwargs)
    assert not model.losses
    clone = with_kernel_l2(model, WD)
    kernels = kernel_variables(clone)
    # Every conv / dense kernel carries one penalty, those inside composite blocks included.
    assert len(clone.losses) == len(kernels) > 2
    expected = WD / 2 * sum(float(np.sum(np.square(v.numpy()))) for v in kernels)
    assert float(sum(clone.losses)) == pytest.approx(expected, rel=1e-5)

    # The clone computes what the original computes.
    x = np.random.default_rng(0).normal(size=(4, *kwargs["input_shape"])).astype("float32")
    np.testing.assert_allclose(clone(x, training=False), model(x, training=False), atol=1e-5)

    # Gradient of the penalty is lambda * W on kernels, zero on biases and normalisation weights.
    with tf.GradientTape() as tape:
        penalty = tf.add_n(clone.losses)
    grads = tape.gradient(penalty, clone.trainable_variables)
    kernel_ids = {id(v) for v in kernels}
    for v, g in zip(clone.trainable_variables, grads, strict=True):
        if id(v) in kernel_ids:
            np.testing.assert_allclose(g.numpy(), WD * v.numpy(), rtol=1e-5, atol=1e-12)
        else:
            assert g is None or not np.any(g.numpy())


def test_zero_decay_returns_the_model_and_negative_is_refused():
    model = kzoo.create_model("plain_mlp", depth=1, width=8, input_shape=(4,), classes=3)
    assert with_kernel_l2(model, 0.0) is model
    with pytest.raises(ValueError, match="weight_decay"):
        with_kernel_l2(model, -1.0)


def test_clone_saves_and_loads_safely(tmp_path):
    model = with_kernel_l2(kzoo.create_model("resnet20", input_shape=(8, 8, 1), classes=10), WD)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert float(sum(loaded.losses)) == pytest.approx(float(sum(model.losses)), rel=1e-6)
