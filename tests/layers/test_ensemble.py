"""ProbabilityAverage: the layer contract, and the arithmetic and geometric means against NumPy."""

import keras
import numpy as np
import pytest

from kzoo.layers import ProbabilityAverage
from tests.helpers import run_layer_test


def _probabilities(rng, batch=4, members=3, classes=5):
    logits = rng.normal(size=(batch, members, classes)).astype("float32")
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def test_layer_contract(rng):
    run_layer_test(ProbabilityAverage, {"mode": "geometric", "member_weights": [1.0, 2.0, 0.5]},
                   input_data=_probabilities(rng), expected_output_shape=(4, 5),
                   expected_num_trainable_weights=0, run_training_check=False)


@pytest.mark.parametrize("weights", [None, [3.0, 1.0, 1.0]])
def test_means_match_numpy(rng, weights):
    p = _probabilities(rng)
    w = np.ones(3) if weights is None else np.asarray(weights)
    w = w / w.sum()
    arithmetic = ProbabilityAverage("arithmetic", member_weights=weights)(p)
    np.testing.assert_allclose(arithmetic, np.einsum("bmc,m->bc", p, w), rtol=1e-6)
    geometric = np.exp(np.einsum("bmc,m->bc", np.log(p), w))
    geometric /= geometric.sum(-1, keepdims=True)
    np.testing.assert_allclose(ProbabilityAverage("geometric", member_weights=weights)(p),
                               geometric, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(arithmetic).sum(-1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "median"}, "mode"),
    ({"member_weights": [1.0, -1.0]}, "member_weights"),
    ({"member_weights": []}, "member_weights"),
    ({"epsilon": 0}, "epsilon"),
])
def test_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ProbabilityAverage(**kwargs)


def test_weights_must_match_the_members():
    with pytest.raises(ValueError, match="2 weights for 3 members"):
        ProbabilityAverage(member_weights=[1, 2])(keras.KerasTensor((None, 3, 5)))


@pytest.mark.parametrize("mode", ["arithmetic", "geometric"])
def test_huge_finite_weights_are_relative_weights(rng, mode):
    """`kzoo ensemble --weights 1e308 1e308` overflowed float32 to inf: NaN probabilities, and the
    export ended in a message about its own metrics. Only the weights' ratios count."""
    p = rng.dirichlet(np.ones(4), size=(5, 2)).astype("float32")
    huge = ProbabilityAverage(mode, member_weights=[1e308, 3e307])(p)
    plain = ProbabilityAverage(mode, member_weights=[10.0, 3.0])(p)
    np.testing.assert_allclose(np.asarray(huge), np.asarray(plain), rtol=1e-6)
    assert np.isfinite(np.asarray(huge)).all()
