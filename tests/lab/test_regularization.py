"""Lesson 9: each regulariser narrows the train-validation gap of an MLP on 1,000 MNIST-1D examples."""

import json

import keras
import numpy as np
import pytest

from kzoo.lab import regularization
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("regularization")
    assert r["k"] == r["n"] >= 3 and not r["smoke"], r["per_seed"]
    for row in r["per_seed"]:
        ratios = row["headline"]
        assert len(ratios) == 4, ratios
        # Each regulariser's validation - training cross-entropy gap at most 0.7 of the
        # unregularised run's.
        for name, ratio in ratios.items():
            assert ratio is not None and ratio <= 0.7, (row["seed"], name, ratio)
        assert row["claim_holds"] is True, row
    assert r["verdict"] == f"holds in {r['n']} of {r['n']} seeds"


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(regularization, tmp_path, smoke=True)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["claim_holds"] is False and r["seeds"] == [0]
    one = json.loads(
        (tmp_path / "seeds" / "regularization" / "seed0" / "regularization.json").read_text())
    assert one["train_size"] == one["validation_size"] == 200 and one["epochs"] == 3
    assert set(one["results"]) == set(regularization.METHODS)
    for name in ("regularization.png", "regularization_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_augmentation_shifts_whole_steps_in_training_only():
    layer = regularization._shift_layer((40, 1), 0.1, seed=0)
    x = np.random.default_rng(0).normal(size=(32, 40, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    shifts = set()
    for original, shifted in zip(x[:, :, 0], out[:, :, 0], strict=True):
        matches = [k for k in range(-4, 5)
                   if np.allclose(shifted, np.roll(original, k) * _kept(k, 40))]
        assert matches, shifted
        shifts.add(matches[0])
    assert len(shifts) >= 4  # different examples get different shifts
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)


def _kept(k, n):
    """1 where a shift by k keeps a value, 0 where it vacated the step."""
    mask = np.ones(n, "float32")
    if k > 0:
        mask[:k] = 0
    elif k < 0:
        mask[k:] = 0
    return mask


@pytest.mark.parametrize("kwargs, match", [
    (dict(methods=("dropout",)), "methods"),
    (dict(methods=("none", "mixup")), "methods"),
    (dict(dataset="iris"), "dataset"),
    (dict(train_size=3500, validation_size=1000), "train_size"),
    (dict(train_size=0), "train_size"),
    (dict(epochs=2.5), "epochs"),
])
def test_rejects_bad_arguments_before_training(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        regularization.run(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
