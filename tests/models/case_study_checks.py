"""Checks shared by the case-study model tests (ResNeXt, VGG, MobileNets, EfficientNet)."""

from __future__ import annotations

import math

import keras
import numpy as np

from kzoo.counting import count_macs


def trainable(model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def assert_counts(model, tally):
    """The built model's trainable parameters and MACs equal the independent count exactly."""
    assert trainable(model) == tally.params
    assert count_macs(model) == tally.macs


def assert_safe_round_trip(model, tmp_path):
    """`.keras` save, safe-mode load without custom objects: same weights, same outputs."""
    shape = tuple(model.input.shape[1:])
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)), expected, rtol=1e-5, atol=1e-6
    )
    return loaded
