"""Lesson 13: condition numbers of the normalisations and SGD speed on a UCI table."""

import json

import numpy as np
import pytest

from kzoo.lab import whitening


def test_condition_number_of_known_inputs():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((20000, 3))
    cond, dims = whitening.condition_number(white)
    assert dims == 4 and cond == pytest.approx(1.0, abs=0.06)  # E[(z,1)(z,1)^T] ~ I
    scaled = white * np.array([1.0, 10.0, 100.0])
    assert whitening.condition_number(scaled)[0] == pytest.approx(1e4, rel=0.05)
    constant = np.concatenate([white, np.zeros((20000, 1))], axis=1)  # a pixel that is always 0
    assert whitening.condition_number(constant)[1] == 4


@pytest.mark.slow
def test_lesson_claims_hold_in_the_smoke_configuration(tmp_path):
    result = whitening.run(tmp_path, seed=0, smoke=True)
    entry = result["results"]["breast_cancer"]
    cond = entry["condition"]
    assert cond["raw"] > 1e10 and cond["standardised"] < 1e6 and cond["whitened (ZCA)"] < 100
    assert cond["PCA (decorrelated)"] == pytest.approx(cond["minus mean example"], rel=1e-2)
    for model in whitening.MODELS:
        epochs = entry["epochs"][model]
        assert epochs["raw"] is None and epochs["whitened (ZCA)"] is not None
    assert result["claim_holds"] is True
    saved = json.loads((tmp_path / "whitening.json").read_text())
    assert saved["results"]["breast_cancer"]["condition"] == cond
    assert (tmp_path / "whitening.png").stat().st_size > 10_000
