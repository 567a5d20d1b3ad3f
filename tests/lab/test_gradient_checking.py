"""Lesson 12: gradient checking separates a wrong gradient from kinks and float32 noise."""

import json

import numpy as np
import pytest

from kzoo.gradcheck import FINE, SUSPICIOUS
from kzoo.lab import gradient_checking
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("gradient_checking")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    assert not r["smoke"] and r["config"]["steps"] == list(gradient_checking.STEPS)
    for row in r["per_seed"]:
        h = row["headline"]
        assert h["max relative error, correct gradients (Highway, Swish)"] <= FINE, row
        assert h["relative error, Swish gradient missing z*s*(1-s)"] >= SUSPICIOUS, row
        best64, best32 = (h[f"best relative error over h, {d}"] for d in ("float64", "float32"))
        assert best64 <= FINE < best32 and best32 > 100 * best64, row
        # A crossing by delta < 1e-3 h escapes the kink flag with error delta / 2h < 5e-4 (seeds
        # 0-2 show none, seed 3 one at h = 1e-3: 2e-4); larger errors off the flags are wrong.
        assert h["max relative error off the flagged ReLU kinks"] < 5e-4, row


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(gradient_checking, tmp_path, smoke=True, steps=(1e-2, 1e-6))
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["config"]["steps"] == [1e-2, 1e-6]
    saved = json.loads((tmp_path / "gradient_checking.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict" and len(saved["headline"]) == 5
    seed0 = json.loads(
        (tmp_path / "seeds/gradient_checking/seed0/gradient_checking.json").read_text())
    assert len(seed0["precision"]["float32"]) == 2 and seed0["kinks"]["crossed"][0] == 1.0
    for name in ("gradient_checking.png", "gradient_checking_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name


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
