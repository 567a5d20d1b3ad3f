"""Lesson 5: SNN activations keep variance ~1 through 32 layers; ReLU (He, no BN) ones do not;
the SNN trains 32 layers deep with SGD."""

import json

import pytest

from kzoo.lab import selu
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("selu")
    assert r["k"] == r["n"] >= 3 and not r["smoke"], r["per_seed"]
    for row in r["per_seed"]:
        h = row["headline"]
        # Every SNN draw within 0.8-1.2 at layer 32 (measured 0.95-1.06 over 20 draws of seed 0;
        # 0.93-1.08 in a NumPy simulation of 100 draws at width 256).
        assert h["SNN draws with variance in 0.8-1.2 at layer 32 (%)"] == 100.0, row
        # A ReLU + He draw lands in the band about 1 time in 5; at most 5 of the seed's 10 may.
        assert h["ReLU + He draws with variance in 0.8-1.2 at layer 32 (%)"] <= 50.0, row
        # Trained 32 layers deep, the SNN's loss is at least 10 times lower (a diverged ReLU run
        # has no loss and counts as infinitely worse).
        snn = h["SNN training loss, best rate (nats)"]
        relu = h["ReLU + He training loss, best rate (nats)"]
        assert snn is not None and (relu is None or 10 * snn <= relu), row
        assert row["claim_holds"] is True, row
    assert r["verdict"] == f"holds in {r['n']} of {r['n']} seeds"


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(selu, tmp_path, smoke=True)
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["claim_holds"] is False and r["seeds"] == [0]
    saved = json.loads((tmp_path / "selu.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict" and saved["config"]["draws"] == 2
    one = json.loads((tmp_path / "seeds" / "selu" / "seed0" / "selu.json").read_text())
    assert len(one["init"]["snn"]["variance"]) == 2
    assert len(one["init"]["relu_lecun"]["variance"][0]) == one["depth"] == 32
    for name in ("selu.png", "selu_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=16, probe_layer=32), "probe_layer"),
    (dict(draws=0), "draws"),
    (dict(learning_rates=(0.01, -1.0)), "learning_rates"),
])
def test_rejects_bad_arguments_before_writing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        selu.run(tmp_path, smoke=True, **kwargs)
    assert not list(tmp_path.iterdir())
