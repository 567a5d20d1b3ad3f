"""Lesson 12: gradient checking separates a wrong gradient from kinks and float32 noise."""

import json

import numpy as np
import pytest

from kzoo.gradcheck import FINE, SUSPICIOUS
from kzoo.lab import gradient_checking


@pytest.mark.slow
def test_lesson_claims_hold_in_the_smoke_configuration(tmp_path):
    result = gradient_checking.run(tmp_path, seed=1, smoke=True)
    layers = result["layers"]
    assert layers["Highway (tanh)"]["max_error"] <= FINE
    assert layers["Swish, right gradient"]["passed"]
    buggy = layers["Swish, buggy gradient"]
    assert buggy["errors"]["inputs"] >= SUSPICIOUS and buggy["kinks"] == 0
    assert result["best_error"]["float64"] <= FINE < result["best_error"]["float32"]
    kinks = result["kinks"]
    assert kinks["crossed"][0] == 1.0 and max(kinks["smooth_max_error"]) <= FINE
    assert result["claim_holds"] is True
    saved = json.loads((tmp_path / "gradient_checking.json").read_text())
    assert saved["best_error"] == result["best_error"]
    assert (tmp_path / "gradient_checking.png").stat().st_size > 10_000


def test_correct_and_buggy_layers_and_kink_crossings():
    x = np.random.default_rng(0).normal(size=(2, 4))
    layers = gradient_checking.correct_vs_wrong(x, seed=0)
    assert [v["passed"] for v in layers.values()] == [True, True, False]
    kinks = gradient_checking.kinks_against_step(0, (1e-2, 1e-6), n=16)
    assert kinks["crossed"][0] == 1.0 and kinks["crossed"][1] < 0.2
    assert kinks["kink_max_error"][0] >= SUSPICIOUS


def test_the_buggy_swish_differs_only_in_its_backward_pass(rng):
    import tensorflow as tf

    x = tf.constant(rng.normal(size=(3, 4)))
    right, wrong = gradient_checking.Swish(dtype="float64"), gradient_checking.Swish(
        bug=True, dtype="float64")
    right(x)
    wrong(x)
    wrong.set_weights(right.get_weights())
    np.testing.assert_array_equal(right(x), wrong(x))
    grads = []
    for layer in (right, wrong):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x))
        grads.append(tape.gradient(y, x).numpy())
    assert np.abs(grads[0] - grads[1]).max() > 0.05
