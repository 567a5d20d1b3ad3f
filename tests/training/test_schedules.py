"""Learning-rate schedules against their NumPy formulas, and the rate the optimiser really applies."""

import keras
import numpy as np
import pytest

from kzoo.training import InverseSqrtDecay, LinearWarmup, TrainConfig, make_optimizer, make_schedule

SPE = 10  # steps per epoch
STEPS = np.array([0, 1, 9, 10, 19, 20, 29, 30, 45, 59, 99])


def _config(**kw):
    base = dict(model="plain_mlp", dataset="digits", run_dir="unused", epochs=10, learning_rate=0.1)
    return TrainConfig(**{**base, **kw}).validate()


def _rates(schedule, steps=STEPS):
    if not callable(schedule):
        return np.full(len(steps), schedule, dtype="float64")
    return np.array([float(keras.ops.convert_to_numpy(schedule(int(s)))) for s in steps])


def test_constant():
    np.testing.assert_allclose(_rates(make_schedule(_config(), SPE)), 0.1)


def test_multistep_decays_at_the_first_step_of_each_milestone_epoch():
    config = _config(schedule="multistep", milestones=(2, 3, 6), gamma=0.2)
    epoch = STEPS // SPE
    expected = 0.1 * 0.2 ** ((epoch >= 2).astype(int) + (epoch >= 3) + (epoch >= 6))
    np.testing.assert_allclose(_rates(make_schedule(config, SPE)), expected, rtol=1e-6)


def test_cosine_reaches_the_floor_at_the_last_step():
    config = _config(schedule="cosine", min_learning_rate=0.001)
    total = 10 * SPE
    expected = 0.001 + 0.5 * (0.1 - 0.001) * (1 + np.cos(np.pi * STEPS / (total - 1)))
    np.testing.assert_allclose(_rates(make_schedule(config, SPE)), expected, rtol=1e-5)
    assert _rates(make_schedule(config, SPE), [total - 1])[0] == pytest.approx(0.001, rel=1e-5)


def test_inverse_sqrt_is_the_lectures_one_over_t_decay():
    expected = 0.1 / np.sqrt(STEPS + 1)
    np.testing.assert_allclose(
        _rates(make_schedule(_config(schedule="inverse_sqrt"), SPE)), expected, rtol=1e-6
    )
    np.testing.assert_allclose(
        _rates(InverseSqrtDecay(0.5, decay_steps=10)), 0.5 / np.sqrt(STEPS / 10 + 1), rtol=1e-6
    )


def test_linear_warmup_scales_any_schedule():
    config = _config(schedule="inverse_sqrt", warmup_epochs=2.5)
    warm = 25
    expected = 0.1 / np.sqrt(STEPS + 1) * np.minimum(1.0, (STEPS + 1) / warm)
    np.testing.assert_allclose(_rates(make_schedule(config, SPE)), expected, rtol=1e-6)
    constant = make_schedule(_config(warmup_epochs=1), SPE)
    np.testing.assert_allclose(
        _rates(constant), 0.1 * np.minimum(1.0, (STEPS + 1) / SPE), rtol=1e-6
    )


def test_schedules_round_trip_through_keras_serialization():
    schedule = LinearWarmup(InverseSqrtDecay(0.3, decay_steps=4), warmup_steps=7)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    np.testing.assert_allclose(_rates(restored), _rates(schedule), rtol=1e-7)


def test_plain_sgd_applies_the_scheduled_rate_at_each_step():
    # With gradient 1 and no momentum, w_t = w_0 - sum of the rates of steps 0 .. t-1.
    config = _config(optimizer="sgd", schedule="multistep", milestones=(2, 5), gamma=0.1, epochs=6)
    optimizer = make_optimizer(config, SPE)
    w = keras.Variable(np.zeros(1, "float32"))
    trajectory = []
    for _ in range(6 * SPE):
        optimizer.apply_gradients([(keras.ops.ones(1), w)])
        trajectory.append(float(w.numpy()[0]))
    epoch = np.arange(6 * SPE) // SPE
    rates = 0.1 * 0.1 ** ((epoch >= 2).astype(int) + (epoch >= 5))
    np.testing.assert_allclose(trajectory, -np.cumsum(rates), rtol=1e-5)


@pytest.mark.parametrize(
    "name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
)
def test_each_optimizer_is_built_with_its_settings(name):
    optimizer = make_optimizer(_config(optimizer=name, momentum=0.8, weight_decay=1e-3), SPE)
    expected = {
        "sgd": keras.optimizers.SGD,
        "momentum": keras.optimizers.SGD,
        "nesterov": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
    }[name]
    assert type(optimizer) is expected
    if expected is keras.optimizers.SGD:
        assert optimizer.momentum == {"sgd": 0.0}.get(name, 0.8)
        assert optimizer.nesterov == (name == "nesterov")
    # L2 (the default, except for AdamW) lives in the model; decoupled decay in the optimiser.
    assert optimizer.weight_decay == (1e-3 if name == "adamw" else None)


def test_decoupled_decay_shrinks_kernels_by_lr_times_lambda():
    config = _config(optimizer="sgd", weight_decay=0.5, weight_decay_mode="decoupled")
    optimizer = make_optimizer(config, SPE)
    w = keras.Variable(np.full((2, 2), 2.0, "float32"))
    optimizer.apply_gradients([(keras.ops.zeros((2, 2)), w)])
    np.testing.assert_allclose(w.numpy(), 2.0 * (1 - 0.1 * 0.5), rtol=1e-6)
