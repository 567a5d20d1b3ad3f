"""Lesson 10: one maxout unit learns convex piecewise-linear activations."""

import json

import numpy as np
import pytest

from kzoo.lab import maxout
from kzoo.lab._seeds import run_over_seeds


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("maxout")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    assert not r["smoke"] and r["config"]["pieces"] == 4
    for row in r["per_seed"]:
        h = row["headline"]
        assert h["max error, relu"] <= 0.1 and h["max error, abs"] <= 0.1, row
        # The best straight line misses x^2 on [-2, 2] by 2.0, the best 4-piece fit by 0.125.
        assert h["max error, square"] <= 1.0, row
        assert 2 <= h["active pieces, x^2"] <= 4, row


@pytest.mark.slow
def test_smoke_run_writes_files_and_gives_no_verdict(tmp_path):
    r = run_over_seeds(maxout, tmp_path, smoke=True, epochs=20, targets=["relu"])
    assert r["smoke"] is True and r["verdict"] == "smoke run, no verdict"
    assert r["config"]["epochs"] == 20 and r["config"]["targets"] == ["relu"]
    saved = json.loads((tmp_path / "maxout.json").read_text())
    assert saved["verdict"] == "smoke run, no verdict"
    assert set(saved["headline"]) == {"max error, relu"}
    seed0 = json.loads((tmp_path / "seeds/maxout/seed0/maxout.json").read_text())
    assert seed0["smoke"] is True and seed0["results"]["relu"]["tolerance"] == 0.1
    for name in ("maxout.png", "maxout_seeds.png"):
        assert (tmp_path / name).stat().st_size > 10_000, name


def test_active_pieces_counts_argmax_lines():
    layer = maxout.Maxout(1, 3)
    layer.build((None, 1))
    layer.kernel.assign(np.array([[-1.0, 0.0, 1.0]], "float32"))
    layer.bias.assign(np.array([0.0, -5.0, 0.0], "float32"))
    x = np.linspace(-2, 2, 41)
    assert maxout.active_pieces(layer, x) == 2  # the flat piece never wins
