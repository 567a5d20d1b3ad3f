"""Snapshot ensembles, EMA and SWA: the arithmetic against NumPy, the schedule, the refusals, and
resumed runs that end with the weights (and snapshots) of uninterrupted ones."""

import json

import keras
import numpy as np
import pytest

import kzoo
from kzoo.training import TrainConfig, train
from kzoo.training import callbacks as callbacks_module
from kzoo.training.averaging import StochasticWeightAveraging, recompute_batch_norm
from kzoo.training.optimizers import make_schedule
from kzoo.utils.errors import SettingError


def test_swa_is_the_mean_of_the_weights_at_each_averaged_epoch_end(rng):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    swa = StochasticWeightAveraging(start_epoch=1)
    swa.set_model(model)
    swa.on_train_begin()
    seen = []
    for epoch in range(4):
        values = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
        for v, value in zip(model.trainable_variables, values, strict=True):
            v.assign(value)
        swa.on_epoch_end(epoch)
        if epoch >= 1:
            seen.append(values)
    assert swa.apply() == 3
    for i, v in enumerate(model.trainable_variables):
        np.testing.assert_allclose(v.numpy(), np.mean([s[i] for s in seen], axis=0), rtol=1e-6)
    # The averages live in the optimiser, so a checkpoint (weights + optimiser) carries them.
    names = [v.name for v in model.optimizer.variables]
    assert sum(n.endswith("_swa_average") for n in names) == 2 and "swa_count" in names


def test_batch_norm_statistics_are_the_mean_of_the_batches(rng):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9)(
        keras.layers.Dense(4, use_bias=False)(inputs)))
    kernel = model.layers[1].kernel.numpy()
    batches = [(rng.normal(size=(8, 4)).astype("float32"),) for _ in range(5)]
    assert recompute_batch_norm(model, batches) == 5
    bn = model.layers[2]
    hidden = [b[0] @ kernel for b in batches]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([h.mean(0) for h in hidden], 0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               np.mean([h.var(0) for h in hidden], 0), rtol=1e-4)
    assert bn.momentum == 0.9  # put back


def test_snapshot_schedule_restarts_each_cycle():
    config = TrainConfig(model="plain_mlp", dataset="digits", run_dir="r", epochs=6, snapshots=3,
                         schedule="cosine", learning_rate=0.2, min_learning_rate=0.002)
    schedule = make_schedule(config, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in range(60)]
    for start in (0, 20, 40):  # every 2 epochs the rate restarts at its peak ...
        assert rates[start] == pytest.approx(0.2)
        assert rates[start + 19] < 0.01  # ... and nearly reaches the floor before the restart
    assert rates[10] == pytest.approx(0.101, rel=1e-3)  # half-way down the first cosine


@pytest.mark.parametrize("changes, flag", [
    (dict(snapshots=3), "epochs"),
    (dict(snapshots=2, schedule="constant"), "schedule"),
    (dict(snapshots=1), "snapshots"),
    (dict(snapshots=2, weight_averaging="ema"), "weight_averaging"),
    (dict(weight_averaging="swa", early_stopping_patience=2), "early_stopping_patience"),
    (dict(weight_averaging="ema", strategy="mirrored"), "strategy"),
    (dict(init_from_sha256="ab" * 32), "init_from_sha256"),
    (dict(freeze=" "), "freeze"),
])
def test_settings_that_cannot_work_together_are_refused(changes, flag):
    base = dict(model="plain_mlp", dataset="digits", run_dir="r", epochs=4, schedule="cosine")
    with pytest.raises(SettingError, match=flag):
        TrainConfig(**{**base, **changes}).validate()


def _quick(tmp_path, name, **kw):
    base = dict(model="plain_cnn", model_kwargs={"depth": 3, "width": 8}, dataset="digits",
                run_dir=str(tmp_path / name), epochs=4, batch_size=64, optimizer="momentum",
                learning_rate=0.05, schedule="cosine", max_steps_per_epoch=4, verbose=0,
                tensorboard=False)
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
@pytest.mark.parametrize("method", [dict(snapshots=2), dict(weight_averaging="ema"),
                                    dict(weight_averaging="swa", swa_start=0.5)],
                         ids=["snapshots", "ema", "swa"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, method):
    reference = train(_quick(tmp_path, "reference", **method))
    original = callbacks_module.AtomicBackupAndRestore.on_epoch_end

    def interrupt_before_checkpoint_2(self, epoch, logs=None):
        if epoch == 1:  # after epoch 2's snapshot / average, before its checkpoint
            raise KeyboardInterrupt("simulated interruption")
        original(self, epoch, logs)

    monkeypatch.setattr(callbacks_module.AtomicBackupAndRestore, "on_epoch_end",
                        interrupt_before_checkpoint_2)
    config = _quick(tmp_path, "interrupted", **method)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(callbacks_module.AtomicBackupAndRestore, "on_epoch_end", original)
    resumed = train(config)
    for a, b in zip(reference.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    keys = [k for k in reference.metrics if k.startswith(("snapshot", "swa", "batch_norm"))]
    assert keys  # the method's own results are recorded
    assert {k: resumed.metrics[k] for k in keys} == {k: reference.metrics[k] for k in keys}
    assert resumed.metrics["test_accuracy"] == reference.metrics["test_accuracy"]


@pytest.mark.slow
def test_the_snapshot_ensemble_is_the_mean_of_its_snapshots(tmp_path):
    result = train(_quick(tmp_path, "snap", epochs=6, snapshots=3, max_steps_per_epoch=None,
                          learning_rate=0.1))
    run = tmp_path / "snap"
    paths = sorted((run / "snapshots").glob("snapshot-*.weights.h5"))
    assert [p.name for p in paths] == [f"snapshot-{k}.weights.h5" for k in (1, 2, 3)]
    recorded = json.loads((run / "checkpoint" / "training_metadata.json").read_text())
    assert sorted(recorded["snapshot_sha256"]) == ["1", "2", "3"]
    arrays = kzoo.data.load_arrays("digits")
    info = kzoo.data.load("digits").info
    x = (arrays["x_test"].astype("float32") - info.mean) / info.std
    mean = np.mean([kzoo.create_model("plain_cnn", weights=p, classes=10, input_shape=(8, 8, 1),
                                      depth=3, width=8)(x, training=False).numpy()
                    for p in paths], axis=0)
    accuracy = float(np.mean(mean.argmax(-1) == arrays["y_test"]))
    assert result.metrics["snapshot_ensemble_test_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    # The last snapshot is the final model.
    assert result.metrics["snapshot_3_test_accuracy"] == pytest.approx(
        result.metrics["test_accuracy"], abs=1e-6)


def test_a_snapshot_that_does_not_match_its_checksum_is_refused(tmp_path):
    from kzoo.training.checkpoint import CheckpointError
    from kzoo.training.snapshots import SnapshotSaver

    model = kzoo.create_model("plain_mlp", depth=1, width=4, input_shape=(3,), classes=2)
    saver = SnapshotSaver(tmp_path, cycle_epochs=1)
    saver.set_model(model)
    saver.on_epoch_end(0)
    assert [p.name for p in saver.verified_paths()] == ["snapshot-1.weights.h5"]
    resumed = SnapshotSaver(tmp_path, 1, recorded=saver.metadata()["snapshot_sha256"])
    data = bytearray((tmp_path / "snapshot-1.weights.h5").read_bytes())
    data[-1] ^= 1
    (tmp_path / "snapshot-1.weights.h5").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="snapshot-1.weights.h5' is missing or does not match"):
        resumed.verified_paths()
