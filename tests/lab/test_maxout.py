"""Lesson 10: one maxout unit learns convex piecewise-linear activations."""

import json

import numpy as np

from kzoo.lab import maxout


def test_maxout_unit_fits_convex_targets_with_at_most_k_pieces(tmp_path):
    result = maxout.run(tmp_path, seed=1, smoke=True, pieces=4)
    for target in ("relu", "abs"):
        r = result["results"][target]
        assert r["max_error"] < 0.1, (target, r)
        assert 2 <= r["active_pieces"] <= 4, (target, r)
    square = result["results"]["square"]
    # The best straight line misses x^2 on [-2, 2] by 2.0; seeds 0-4 give 0.35-0.48 here.
    assert square["max_error"] < 0.6, square
    assert square["rms_error"] < 0.2, square
    assert 2 <= square["active_pieces"] <= 4, square
    assert result["claim_holds"] is True
    saved = json.loads((tmp_path / "maxout.json").read_text())
    assert saved["results"]["square"]["max_error"] == square["max_error"]
    assert (tmp_path / "maxout.png").stat().st_size > 10_000


def test_active_pieces_counts_argmax_lines():
    layer = maxout.Maxout(1, 3)
    layer.build((None, 1))
    layer.kernel.assign(np.array([[-1.0, 0.0, 1.0]], "float32"))
    layer.bias.assign(np.array([0.0, -5.0, 0.0], "float32"))
    x = np.linspace(-2, 2, 41)
    assert maxout.active_pieces(layer, x) == 2  # the flat piece never wins
