"""Lesson 13: condition numbers of the normalisations and SGD speed on a UCI table."""

import json

import numpy as np
import pytest

from kzoo.lab import whitening
from kzoo.lab._seeds import run_over_seeds


def test_condition_number_of_known_inputs():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((20000, 3))
    cond, dims = whitening.condition_number(white)
    assert dims == 4 and cond == pytest.approx(1.0, abs=0.06)  # E[(z,1)(z,1)^T] ~ I
    scaled = white * np.array([1.0, 10.0, 100.0])
    assert whitening.condition_number(scaled)[0] == pytest.approx(1e4, rel=0.05)
    constant = np.concatenate([white, np.zeros((20000, 1))], axis=1)  # a pixel that is always 0
    assert whitening.condition_number(constant)[1] == 4


@pytest.mark.parametrize("kind", whitening.MODELS)
def test_backprop_gradients_match_finite_differences(kind):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((7, 5)), rng.integers(0, 3, 7)
    onehot = np.eye(3)[y]
    params = whitening._initial(kind, 5, 3, 2, rng)
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in params]  # nonzero biases too

    def loss(ps):  # mean cross-entropy per learning rate's copy
        p, _ = whitening._forward(ps, x)
        return -np.log(p[:, np.arange(7), y]).mean(axis=1)

    grads = whitening._gradients(params, x, onehot)
    for i, param in enumerate(params):
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            shifted = [q.copy() for q in params]
            shifted[i][index] += 1e-6
            numeric[index] = (loss(shifted)[index[0]] - loss(params)[index[0]]) / 1e-6
        np.testing.assert_allclose(grads[i], numeric, atol=1e-5)


@pytest.mark.slow
def test_sgd_runs_share_initial_weights_and_stop_at_the_first_rate_to_reach_the_target():
    x, y, xv, yv = whitening.split("breast_cancer", 0)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    data = ((x - mean) / scale, y, (xv - mean) / scale, yv)
    runs = whitening.epochs_to_target("logistic regression", data, 0.97, (1e-6, 1.0), 30, 0)
    assert runs[1.0][0] is not None and runs[1e-6][0] is None  # stopped when 1.0 got there
    alone = whitening.epochs_to_target("logistic regression", data, 0.97, (1.0,), 30, 0)
    assert alone[1.0] == runs[1.0]  # the same initial weights and batches, rate by rate


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("whitening")
    assert r["k"] == r["n"] >= 3 and r["claim_holds"] is True, r["per_seed"]
    for row in r["per_seed"]:
        h = row["headline"]
        assert h["condition number, whitened inputs (largest over data sets)"] < 100
        whitened = h["epochs to the target, whitened inputs (slowest model and data set)"]
        assert whitened is not None
        assert whitened < h["epochs to the target, raw digits (faster model)"]
        assert h["epochs to the target, standardised inputs (slowest model and data set)"] \
            is not None
    for seed_dir in sorted((lab_run.out / "seeds" / "whitening").iterdir()):
        seed = json.loads((seed_dir / "whitening.json").read_text())
        cancer = seed["results"]["breast_cancer"]
        assert cancer["condition"]["raw"] > 1e10 > 1e6 > cancer["condition"]["standardised"]
        for model in whitening.MODELS:
            assert cancer["epochs"][model]["raw"] is None  # never, in 30 epochs at any rate


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(whitening, tmp_path, smoke=True)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict" and r["seeds"] == [0]
    saved = json.loads((tmp_path / "seeds" / "whitening" / "seed0" / "whitening.json").read_text())
    assert saved["smoke"] is True and list(saved["results"]) == ["breast_cancer"]
    for name in ("whitening.json", "whitening.png", "whitening_seeds.png"):
        assert (tmp_path / name).stat().st_size > 0
