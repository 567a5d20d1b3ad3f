import json

import pytest

from kzoo.lab import vanishing_gradients


@pytest.mark.parametrize("seed", [3])
def test_sigmoid_first_layer_gradient_vanishes_relu_does_not(tmp_path, seed):
    r = vanishing_gradients.run(tmp_path, seed=seed, smoke=True, depth=20, width=32)
    sig, relu = r["ratio"]["sigmoid"]["init"], r["ratio"]["relu"]["init"]
    # 0.25 per sigmoid layer would give ~1e12; demand only 100x, and ReLU at least 100x less.
    assert sig >= 100
    assert relu < sig / 100
    assert relu < 20
    assert r["ratio"]["sigmoid"]["trained"] >= 100
    assert r["claim_holds"] is True
    norms = r["grad_norms"]["sigmoid"]["init"]
    assert len(norms) == 20 and all(g > 0 for g in norms)
    assert (tmp_path / "vanishing_gradients.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "vanishing_gradients.json").read_text())
    assert saved["ratio"]["sigmoid"]["init"] == pytest.approx(sig)
    assert "smaller than its last layer" in saved["conclusion"]
