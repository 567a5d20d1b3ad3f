"""Shared checks every kzoo layer must pass (in the spirit of keras-hub's `run_serialization_test`)."""

from __future__ import annotations

import keras
import numpy as np


def assert_shape_matches(layer, x):
    y = layer(x)
    expected = layer.compute_output_shape(tuple(x.shape))
    assert tuple(y.shape) == tuple(expected), (tuple(y.shape), expected)
    return y


def assert_config_round_trip(layer, x, atol=1e-6):
    """`from_config(get_config())` with copied weights gives identical outputs."""
    y = keras.ops.convert_to_numpy(layer(x))
    clone = layer.__class__.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), y, atol=atol)
    assert clone.get_config() == layer.get_config()


def assert_keras_file_round_trip(layer, x, tmp_path, atol=1e-6):
    """Inside a model, `.keras` save + `load_model(safe_mode=True)` with no custom_objects round-trips."""
    inputs = keras.Input(shape=tuple(x.shape[1:]))
    model = keras.Model(inputs, layer(inputs))
    expected = model.predict(x, verbose=0)
    path = tmp_path / "layer_model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=atol)


def assert_training_step_lowers_loss(layer, x, lr=1e-3):
    """A few full-batch SGD steps (small step: a descent direction must lower it) lower the MSE."""
    inputs = keras.Input(shape=tuple(x.shape[1:]))
    outputs = keras.layers.Dense(1, name="head")(keras.layers.Flatten()(layer(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    rng = np.random.default_rng(0)
    target = rng.normal(size=(x.shape[0], 1)).astype("float32")
    before = model.evaluate(x, target, verbose=0)
    model.fit(x, target, epochs=5, batch_size=x.shape[0], verbose=0, shuffle=False)
    after = model.evaluate(x, target, verbose=0)
    assert after < before, (before, after)


def run_layer_checks(layer_factory, x, tmp_path, atol=1e-6, train=True):
    """All generic checks on fresh layers from `layer_factory()`."""
    assert_shape_matches(layer_factory(), x)
    assert_config_round_trip(layer_factory(), x, atol=atol)
    assert_keras_file_round_trip(layer_factory(), x, tmp_path, atol=atol)
    if train:
        assert_training_step_lowers_loss(layer_factory(), x)
