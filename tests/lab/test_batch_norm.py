"""Lesson 4: batch norm reaches the target in fewer steps and trains at 10x larger rates."""

import pytest

from kzoo.lab import batch_norm


def test_steps_to_target_is_the_first_probe_at_or_above_it():
    points = [(6, 0.5), (12, 0.89), (18, 0.9), (24, 0.95)]
    assert batch_norm.steps_to(points, 0.9) == 18
    assert batch_norm.steps_to(points, 0.99) is None


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("batch_norm")
    assert r["k"] == r["n"] >= 3, r["per_seed"]  # every seed's numbers when it fails
    for row in r["per_seed"]:
        h = row["headline"]
        assert h["steps to target, batch norm"] is not None, h
        if h["steps to target, plain"] is not None:
            assert h["steps to target, batch norm"] < h["steps to target, plain"], h
        # Grid rates: the ratio is 10 or 30 (half-decade steps); 1e-9 absorbs float rounding.
        assert h["largest stable lr, batch norm"] >= 10 * h["largest stable lr, plain"] * (1 - 1e-9), h
