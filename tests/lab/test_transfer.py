"""Lesson 14: pretrained features learn a new task from few examples (MNIST-1D digits 0-4 -> 5-9)."""

import json

import pytest

from kzoo.lab import transfer


@pytest.mark.slow
def test_fine_tuning_beats_scratch_most_when_examples_are_few(tmp_path):
    r = transfer.run(tmp_path, seed=0, smoke=True)
    acc, gain = r["accuracy"], r["gain"]
    # The pretraining task is learned (measured 98.2%).
    assert r["pretrain_accuracy"] > 0.95
    # 5 per class: fine-tuned 70.2%, frozen 57.8%, scratch 49.3% (seed 0, smoke);
    # 50 per class: 91.3% / 60.6% / 88.2%.
    assert gain[5] >= 0.08
    assert acc["frozen"][5] > acc["scratch"][5]
    assert gain[50] < gain[5]
    assert acc["frozen"][50] < acc["scratch"][50]  # frozen features plateau
    assert acc["scratch"][50] > acc["scratch"][5] + 0.2  # more data helps every method
    assert r["claim_holds"]
    saved = json.loads((tmp_path / "transfer.json").read_text())
    assert saved["smoke"] is True and len(saved["runs"]) == 2 * 3
    assert (tmp_path / "transfer.png").stat().st_size > 10_000


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
