"""StochasticDepth: identity at inference; whole examples dropped and survivors rescaled."""

import keras
import numpy as np
import pytest

from kzoo.layers import StochasticDepth


def test_identity_at_inference_and_at_rate_zero(rng):
    x = rng.normal(size=(4, 3, 3, 2)).astype("float32")
    np.testing.assert_array_equal(StochasticDepth(0.5)(x, training=False), x)
    np.testing.assert_array_equal(StochasticDepth(0.0)(x, training=True), x)


def test_training_drops_whole_examples_and_rescales_the_rest(rng):
    x = rng.uniform(1.0, 2.0, size=(4000, 3, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(StochasticDepth(0.3, seed=7)(x, training=True))
    dropped = np.all(y == 0, axis=(1, 2))
    kept = ~dropped
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-6)
    # Every example is either dropped whole or kept whole.
    assert np.all(np.any(y != 0, axis=(1, 2)) == kept)
    # Binomial(4000, 0.3): standard deviation 29; within 4 of them.
    assert abs(dropped.sum() - 1200) < 4 * 29
    # The expectation is unchanged: the mean over examples stays close to the input's.
    assert abs(y.mean() / x.mean() - 1.0) < 0.03


def test_seeded_draws_repeat(rng):
    x = rng.normal(size=(64, 2)).astype("float32")
    a = StochasticDepth(0.5, seed=3)(x, training=True)
    b = StochasticDepth(0.5, seed=3)(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_config_round_trip():
    layer = StochasticDepth(0.2, seed=5, name="sd")
    clone = StochasticDepth.from_config(layer.get_config())
    assert (clone.rate, clone.seed, clone.name) == (0.2, 5, "sd")
    assert clone.compute_output_shape((None, 4, 4, 8)) == (None, 4, 4, 8)


@pytest.mark.parametrize("kwargs, match", [(dict(rate=1.0), "rate"), (dict(rate=-0.1), "rate"),
                                           (dict(rate=0.1, seed=1.5), "seed")])
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StochasticDepth(**kwargs)
