"""Lesson 15: ensembles of seeded nets and of snapshots, EMA/SWA, and dropout ~ ensemble (MNIST-1D)."""

import json

import pytest

from kzoo.lab import ensembles
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("ensembles")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    assert not r["smoke"] and r["config"]["members"] == 3
    for row in r["per_seed"]:
        h = row["headline"]
        # The ensemble of 3 seeded CNNs errs at least 1 point less than its average member ...
        assert (h["test error, ensemble of 3 members (%)"]
                <= h["test error, average member (%)"] - 1), row
        assert h["ensemble minus average member (error points)"] <= -1, row
        assert row["claim_holds"], row


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(ensembles, tmp_path, smoke=True, dropout_rate=0.2)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["config"]["members"] == 2 and r["config"]["averaging"] is False
    seed0 = json.loads((tmp_path / "seeds/ensembles/seed0/ensembles.json").read_text())
    assert seed0["smoke"] is True and len(seed0["member_error"]) == 2
    assert seed0["ema_error"] is None and seed0["snapshot"] is None
    assert seed0["dropout"]["mc_arithmetic_error"].keys() == {"1", "2", "5", "10"}
    saved = json.loads((tmp_path / "ensembles.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict" and len(saved["headline"]) == 5
    for name in ("ensembles.png", "ensembles_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name


@pytest.mark.parametrize("kwargs, match", [
    (dict(members=1), "members"),
    (dict(epochs=9, snapshots=2), "snapshots"),
    (dict(snapshots=1), "snapshots"),
    (dict(min_gain=-0.1), "min_gain"),
    (dict(dropout_rate=1.0), "dropout_rate"),
    (dict(mc_samples=0), "mc_samples"),
])
def test_rejects_bad_arguments_before_training(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ensembles.run(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
