"""Lesson 11: small members of the case-study families trained under one budget on digits."""

import json

import numpy as np
import pytest

from kzoo.lab import architectures
from kzoo.lab._seeds import run_over_seeds
from tests.models import arch_counts as ac


@pytest.mark.slow
def test_smoke_run_trains_and_measures_the_members_and_gives_no_verdict(tmp_path):
    aggregate = run_over_seeds(architectures, tmp_path, smoke=True)
    assert aggregate["smoke"] is True and aggregate["verdict"] == "smoke run, no verdict"
    assert (tmp_path / "architectures_seeds.png").stat().st_size > 0
    tmp_path = tmp_path / "seeds" / "architectures" / "seed0"
    r = json.loads((tmp_path / "architectures.json").read_text())
    assert r["smoke"] is True
    members = r["members"]
    assert sorted(members) == ["resnet20", "resnext11", "vgg11"]
    assert (r["epochs"], r["train_examples"], r["test_examples"]) == (1, 256, 360)
    # The parameters and MACs reported are those of the models trained, counted independently
    # from the architecture tables (1 input channel, 32x32).
    vgg = ac.vgg(11, bn=True, side=32, classes=10, cifar=True, widths=(16, 32, 64, 64, 64),
                 fc=64, channels=1)
    resnext = ac.resnext((1, 1, 1), 8, 4, side=32, classes=10, imagenet=False, base=16,
                         channels=1)
    assert (members["vgg11"]["params"], members["vgg11"]["macs"]) == (vgg.params, vgg.macs)
    assert (members["resnext11"]["params"], members["resnext11"]["macs"]) == (
        resnext.params, resnext.macs)
    assert members["resnet20"]["params"] == 269_722 - 2 * 9 * 16  # ResNet-20, one input channel
    assert r["costliest"] == "resnet20"
    for m in members.values():  # plumbing: numbers, not evidence (smoke runs never are)
        assert 0 <= m["test_accuracy"] <= 1.0 and np.isfinite(m["train_loss"])
    best = max(m["test_accuracy"] for m in members.values())
    assert members[r["best"]]["test_accuracy"] == best
    # The verdict follows from the numbers.
    cap = members["resnet20"]["macs"] / r["cost_ratio"]
    expected = [k for k, m in members.items()
                if m["test_accuracy"] >= best - r["tolerance"] and m["macs"] <= cap]
    assert r["efficient"] == sorted(expected, key=lambda k: members[k]["macs"])
    assert r["claim_holds"] is bool(expected)
    assert (tmp_path / "architectures.png").stat().st_size > 10_000


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("architectures")
    assert r["k"] == r["n"] >= 3 and r["claim_holds"] is True, r["per_seed"]
    for row in r["per_seed"]:
        h = row["headline"]
        assert h["MACs of the costliest / of that member (x)"] >= 5
        assert h["accuracy gap to the best, best member with <= 1/5 of the MACs (points)"] <= 2
        assert h["test accuracy, most accurate member (%)"] > 90  # trained, not a coin toss


def test_digits_are_upsampled_by_nearest_neighbour():
    images = np.arange(2 * 64).reshape(2, 8, 8) % 17
    x = architectures.prepare(images)
    assert x.shape == (2, 32, 32, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 5, 9, 0], images[:, 1, 2] / 16.0)
    for i in range(4):  # every pixel becomes a 4x4 block
        np.testing.assert_array_equal(x[:, i::4, 3 - i::4, 0], images / 16.0)


@pytest.mark.parametrize("kwargs", [dict(members=("vgg11",)), dict(members=("vgg11", "nope")),
                                    dict(members=("vgg11", "vgg11")), dict(epochs=0),
                                    dict(learning_rate=0), dict(tolerance=1.0)])
def test_rejects_bad_arguments_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError, match="members|epochs|learning_rate|tolerance"):
        architectures.run(tmp_path, smoke=True, **kwargs)
    assert not list(tmp_path.iterdir())
