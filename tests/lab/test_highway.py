"""Lesson 6: at 50 and 100 layers highway MLPs train where plain MLPs do not."""

import pytest

from kzoo.lab import highway


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("highway")
    assert r["k"] == r["n"] >= 3 and r["config"]["depths"] == [10, 50, 100], r["per_seed"]
    for row in r["per_seed"]:
        h = row["headline"]
        for depth in (50, 100):
            assert h[f"highway {depth} layers, training accuracy (%)"] >= 99.0, h
            assert h[f"plain {depth} layers, training accuracy (%)"] < 90.0, h
    seed0 = r["seeds"][0]
    import json

    data = json.loads((lab_run.out / "seeds" / "highway" / f"seed{seed0}" / "highway.json")
                      .read_text())
    assert data["train_accuracy"]["plain_10"] >= 0.99  # depth, not the plain design, is the problem
    gates = data["gate_activity"]
    assert len(gates) == 100 and all(0.0 < g < 1.0 for g in gates)


@pytest.mark.slow
def test_smoke_run_writes_its_files_and_gives_no_verdict(tmp_path):
    from kzoo.lab._seeds import run_over_seeds

    r = run_over_seeds(highway, tmp_path, smoke=True)
    assert r["verdict"] == "smoke run, no verdict" and r["seeds"] == [0]
    assert (tmp_path / "highway.png").stat().st_size > 10_000
