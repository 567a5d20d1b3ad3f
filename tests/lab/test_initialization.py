import json

import pytest

from kzoo.lab import initialization


def test_small_collapses_xavier_suits_tanh_he_suits_relu(tmp_path):
    r = initialization.run(tmp_path, seed=5, smoke=True)
    stats, ratio = r["stats"], r["last_over_first_std"]
    # Small init: each layer scales the std by ~0.01 * sqrt(256) = 0.16, so 1e-3 has decades of margin.
    assert ratio["tanh/small"] < 1e-3
    assert ratio["relu/small"] < 1e-3
    assert stats["tanh/large"]["saturated"][-1] > 0.5
    assert stats["tanh/glorot_normal"]["std"][-1] > 0.1
    assert stats["tanh/glorot_normal"]["saturated"][-1] < 0.05
    he = stats["relu/he_normal"]["std"]
    assert max(he) / min(he) < 2.0
    # Xavier halves ReLU variance per layer: std ratio ~ 0.5 ** 4.5 = 0.044 after 10 layers.
    assert ratio["relu/glorot_normal"] < 0.1
    assert r["claim_holds"] is True
    assert len(he) == 10
    assert (tmp_path / "initialization.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "initialization.json").read_text())
    assert saved["he_relu_std_spread"] == pytest.approx(max(he) / min(he))
