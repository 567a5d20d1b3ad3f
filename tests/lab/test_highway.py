"""Lesson 6: at 50 layers a highway MLP trains where a plain MLP does not."""

import json

import pytest

from kzoo.lab import highway


@pytest.mark.slow
def test_fifty_layer_highway_trains_where_plain_does_not(tmp_path):
    result = highway.run(tmp_path, seed=0, smoke=True)
    acc = result["train_accuracy"]
    assert acc["highway_50"] - acc["plain_50"] >= 0.2, acc
    gates = result["gate_activity"]
    assert len(gates) == 50 and all(0.0 < g < 1.0 for g in gates)
    assert result["claim_holds"] is True
    saved = json.loads((tmp_path / "highway.json").read_text())
    assert saved["train_accuracy"] == acc
    assert (tmp_path / "highway.png").exists()
