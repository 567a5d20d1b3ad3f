"""Lesson 2: the scale of the initial weights decides whether a deep stack passes a signal."""

import json

import pytest

from kzoo.lab import initialization
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("initialization")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    assert not r["smoke"] and r["config"]["depth"] == 10 and r["config"]["width"] == 256
    for row in r["per_seed"]:
        h = row["headline"]
        # Small init scales the std by ~0.01 * sqrt(256) = 0.16 per layer: 1e-3 has decades of room.
        assert h["0.01 N(0,1) init: last/first-layer activation std (larger of tanh, ReLU)"] < 1e-3
        # N(0,1) weights give pre-activations of std ~16: ~87% of |tanh| above 0.99.
        assert h["N(0,1) init: saturated tanh units in the last layer (%)"] > 50, row
        assert h["Xavier init: tanh last-layer activation std"] > 0.1, row
        # Xavier halves ReLU variance per layer: std ratio ~ 0.5 ** 4.5 = 0.044 after 10 layers.
        assert h["Xavier init: ReLU last/first-layer activation std"] < 0.1, row
        assert h["He init: ReLU activation std, largest/smallest layer"] < 2.0, row


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(initialization, tmp_path, smoke=True, depth=4, width=32)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["config"]["depth"] == 4 and r["config"]["n"] == 256
    saved = json.loads((tmp_path / "initialization.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict" and len(saved["headline"]) == 5
    seed0 = json.loads((tmp_path / "seeds/initialization/seed0/initialization.json").read_text())
    he = seed0["stats"]["relu/he_normal"]["std"]
    assert len(he) == 4
    assert seed0["he_relu_std_spread"] == pytest.approx(max(he) / min(he))
    for name in ("initialization.png", "initialization_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name
