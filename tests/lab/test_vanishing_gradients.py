"""Lesson 1: the gradient vanishes through a deep sigmoid MLP, not through ReLU + He init."""

import json

import pytest

from kzoo.lab import vanishing_gradients
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("vanishing_gradients")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    assert not r["smoke"] and r["config"]["depth"] == 20 and r["config"]["epochs"] == 5
    for row in r["per_seed"]:
        h = row["headline"]
        # 0.25 per sigmoid layer would give ~1e12 over 20 layers (seeds 0-4 measure 1e11-1e12);
        # the claim asks for 1e6, and for ReLU + He (seeds 0-4: 1-7) at most 20.
        assert h["sigmoid last/first-layer gradient ratio at init"] >= 1e6, row
        assert h["sigmoid last/first-layer gradient ratio after 5 epochs"] >= 1e6, row
        assert h["ReLU + He last/first-layer gradient ratio at init"] <= 20, row
        assert h["ReLU + He last/first-layer gradient ratio after 5 epochs"] <= 20, row


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(vanishing_gradients, tmp_path, smoke=True, depth=8, width=16)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["config"]["depth"] == 8 and r["config"]["epochs"] == 1
    saved = json.loads((tmp_path / "vanishing_gradients.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict"
    assert len(saved["headline"]) == 4
    seed0 = json.loads(
        (tmp_path / "seeds/vanishing_gradients/seed0/vanishing_gradients.json").read_text())
    assert len(seed0["grad_norms"]["sigmoid"]["init"]) == 8
    assert all(g > 0 for g in seed0["grad_norms"]["relu"]["trained"])
    for name in ("vanishing_gradients.png", "vanishing_gradients_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
