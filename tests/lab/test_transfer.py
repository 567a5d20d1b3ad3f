"""Lesson 14: pretrained features learn a new task from few examples (MNIST-1D digits 0-4 -> 5-9)."""

import json

import pytest

from kzoo.lab import transfer
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("transfer")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    assert not r["smoke"] and r["config"]["examples"] == [5, 50]
    for row in r["per_seed"]:
        h = row["headline"]
        # 5 per class: fine-tuning beats scratch by at least 8 points (the claim's margin) ...
        assert h["fine-tuned minus scratch, 5 per class (points)"] >= 8, row
        assert (h["test accuracy, fine-tuned, 5 per class (%)"]
                - h["test accuracy, from scratch, 5 per class (%)"]) >= 8, row
        # ... and by less with 50 per class.
        assert (h["fine-tuned minus scratch, 50 per class (points)"]
                < h["fine-tuned minus scratch, 5 per class (points)"]), row


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(transfer, tmp_path, smoke=True)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["config"]["examples"] == [5, 50] and r["per_seed"][0]["seed"] == 0
    seed0 = json.loads((tmp_path / "seeds/transfer/seed0/transfer.json").read_text())
    assert seed0["smoke"] is True and len(seed0["runs"]) == 2 * 3
    saved = json.loads((tmp_path / "transfer.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict" and len(saved["headline"]) == 4
    for name in ("transfer.png", "transfer_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name


def test_the_figure_labels_only_the_sizes_measured():
    sizes = [5, 10, 20, 50]
    runs = [{"method": m, "examples_per_class": k, "test_accuracy": 0.5}
            for m in transfer.METHODS for k in sizes]
    n = {"examples": sizes, "runs": runs, "accuracy": {m: dict.fromkeys(sizes, 0.5)
                                                       for m in transfer.METHODS},
         "pretrain_accuracy": 0.99, "steps": 200, "repeats": 1, "seed": 0}
    fig = transfer._figure(n)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.xaxis.get_ticklabels(minor=False) + ax.xaxis.get_ticklabels(
        minor=True) if t.get_text()]
    assert labels == ["5", "10", "20", "50"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(examples=(0, 5)), "examples"),
    (dict(repeats=0), "repeats"),
    (dict(steps=2.5), "steps"),
])
def test_rejects_bad_arguments_before_training(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        transfer.run(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
