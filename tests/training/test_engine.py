"""train(): accuracy on real data, the run directory's files, resume, refusal, early stopping."""

import json

import keras
import numpy as np
import pytest

import kzoo.data
from kzoo.training import TrainConfig, train
from kzoo.training import callbacks as callbacks_module
from kzoo.training.callbacks import ResumableEarlyStopping


def _quick(tmp_path, name="run", **kw):
    base = dict(
        model="plain_mlp",
        model_kwargs={"depth": 2, "width": 32, "dropout": 0.2},
        dataset="digits",
        run_dir=str(tmp_path / name),
        epochs=3,
        batch_size=64,
        optimizer="momentum",
        learning_rate=0.05,
        max_steps_per_epoch=4,
        verbose=0,
        tensorboard=False,
    )
    return TrainConfig(**{**base, **kw})


@pytest.mark.slow
def test_cnn_on_digits_reaches_95_percent_and_writes_the_run_directory(tmp_path):
    config = TrainConfig(
        model="plain_cnn",
        model_kwargs={"depth": 7},
        dataset="digits",
        run_dir=str(tmp_path / "cnn"),
        epochs=8,
        batch_size=32,
        optimizer="adam",
        learning_rate=2e-3,
        schedule="cosine",
        verbose=0,
    )
    result = train(config)
    assert result.metrics["test_accuracy"] >= 0.95
    run = tmp_path / "cnn"
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, 9))
    assert history[-1]["loss"] < history[0]["loss"]
    assert (run / "history.csv").read_text().count("\n") == 9  # header + 8 rows
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((run / "logs" / "train").glob("events.out.tfevents.*"))
    assert not list(run.glob(".*tmp*"))  # no temporary files left behind

    # The saved model loads safely and scores what the engine reported on the test split.
    info = kzoo.data.load("digits").info
    norm = json.loads((run / "normalization.json").read_text())
    np.testing.assert_allclose(norm["mean"], np.ravel(info.mean), rtol=1e-6)
    np.testing.assert_allclose(norm["std"], np.ravel(info.std), rtol=1e-6)
    assert norm["input_shape"] == [8, 8, 1] and norm["class_names"] == [
        str(c) for c in info.class_names
    ]
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    arrays = kzoo.data.load_arrays("digits")
    x = (arrays["x_test"].astype("float32") - info.mean) / info.std
    accuracy = np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == arrays["y_test"])
    assert accuracy == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test_accuracy"] == result.metrics["test_accuracy"]


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    reference = train(_quick(tmp_path, "uninterrupted", epochs=3))

    original = callbacks_module.HistoryWriter.on_epoch_end

    def interrupt_in_epoch_2(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(callbacks_module.HistoryWriter, "on_epoch_end", interrupt_in_epoch_2)
    config = _quick(tmp_path, "interrupted", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    run = tmp_path / "interrupted"
    assert not (run / "metrics.json").exists()
    # Epoch 2's history row was written, its checkpoint was not: the resume must redo epoch 2.
    assert json.loads((run / "checkpoint" / "training_metadata.json").read_text())["epoch"] == 1
    assert len(json.loads((run / "history.json").read_text())) == 2
    monkeypatch.setattr(callbacks_module.HistoryWriter, "on_epoch_end", original)
    resumed = train(config)

    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for a, b in zip(reference.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert resumed.metrics["test_accuracy"] == reference.metrics["test_accuracy"]
    for a, b in zip(reference.history, resumed.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)


def test_different_config_is_refused_and_overwrite_replaces_the_run(tmp_path):
    first = train(_quick(tmp_path, epochs=1))
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(
        ValueError, match=r"different config.*learning_rate: 0.05 -> 0.1.*overwrite"
    ):
        train(_quick(tmp_path, epochs=1, learning_rate=0.1))
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before

    # The same config again: the finished run is loaded, not trained again.
    again = train(_quick(tmp_path, epochs=1))
    assert again.metrics == first.metrics
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before

    # The same config with overwrite still loads the finished run: overwrite never discards work
    # the same command already did (a rerun after a crash resumes).
    assert train(_quick(tmp_path, epochs=1, overwrite=True)).metrics == first.metrics

    (run / "my_notes.txt").write_text("mine")
    replaced = train(_quick(tmp_path, epochs=1, learning_rate=0.1, overwrite=True))
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["learning_rate"] == 0.1
    assert replaced.metrics["fingerprint"] != first.metrics["fingerprint"]
    assert (run / "my_notes.txt").read_text() == "mine"  # only kzoo's own files were replaced


def test_a_model_that_does_not_fit_the_data_fails_before_anything_is_written(tmp_path):
    config = _quick(tmp_path, model="plain_mlp", model_kwargs={"input_shape": (10,)})
    with pytest.raises(ValueError, match=r"\(10,\).*\(8, 8, 1\)|\(8, 8, 1\).*\(10,\)"):
        train(config)
    assert not (tmp_path / "run").exists()


def test_a_directory_that_is_not_a_run_is_never_touched(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a kzoo run directory"):
        train(_quick(tmp_path, overwrite=True))
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["notes.txt"]


def test_early_stopping_replays_finished_epochs():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    past = [{"val_loss": v} for v in (1.0, 0.8, 0.9, 0.95)]
    stopper = ResumableEarlyStopping("unused.weights.h5", past_logs=past, patience=2)
    stopper.set_model(model)
    stopper.on_train_begin()
    assert model.stop_training and stopper.best == 0.8 and stopper.best_epoch == 1
    model.stop_training = False
    stopper = ResumableEarlyStopping("unused.weights.h5", past_logs=past[:3], patience=2)
    stopper.set_model(model)
    stopper.on_train_begin()
    assert not model.stop_training and stopper.wait == 1


def test_label_smoothing_mixed_precision_and_decoupled_decay_run(tmp_path):
    policy = keras.mixed_precision.global_policy().name
    result = train(
        _quick(
            tmp_path,
            epochs=2,
            label_smoothing=0.1,
            mixed_precision="mixed_bfloat16",
            optimizer="adamw",
            learning_rate=1e-2,
            weight_decay=1e-2,
            schedule="cosine",
            warmup_epochs=1,
            early_stopping_patience=1,
            max_steps_per_epoch=None,
        )
    )
    assert keras.mixed_precision.global_policy().name == policy  # restored
    assert result.model.dtype_policy.name == "mixed_bfloat16"
    assert result.metrics["precision_policy"] == "mixed_bfloat16"
    assert result.model.layers[-1].dtype_policy.name == "float32"  # the classifier stays float32
    bundle = kzoo.data.load("digits", batch_size=64)
    warmup = bundle.steps_per_epoch  # one epoch of warm-up: step 0 runs at 1/warmup of the rate
    assert result.history[0]["learning_rate"] == pytest.approx(1e-2 / warmup, rel=1e-4)

    # test_loss is the smoothed objective, test_cross_entropy the plain one (NumPy references).
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in bundle.test], strict=True)
    p = np.clip(result.model.predict(np.concatenate(xs), verbose=0).astype("float64"), 1e-7, 1)
    y = np.concatenate(ys)
    target = np.full(p.shape, 0.1 / 10) + 0.9 * np.eye(10)[y]
    smoothed = np.mean(-np.sum(target * np.log(p), axis=1))
    plain = np.mean(-np.log(p[np.arange(len(y)), y]))
    assert result.metrics["test_loss"] == pytest.approx(smoothed, rel=2e-3)
    assert result.metrics["test_cross_entropy"] == pytest.approx(plain, rel=2e-3)
    assert smoothed - plain > 0.05  # a trained model is confident: smoothing costs
