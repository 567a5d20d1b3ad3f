import csv
import json

import keras_tuner as kt
import pytest

import kzoo.data
from kzoo.tuning import tune
from kzoo.tuning.hypermodels import PlainMLPHyperModel
from kzoo.tuning.search import (
    SECONDS,
    BayesianOptimization,
    GridSearch,
    Hyperband,
    RandomSearch,
    make_tuner,
)


@pytest.fixture(scope="module")
def digits():
    return kzoo.data.load("digits", batch_size=64, validation_split=0.2, seed=0)


def _search(tuner, bundle, epochs):
    tuner.search(
        bundle.train_epochs(0, epochs),
        steps_per_epoch=bundle.steps_per_epoch,
        epochs=epochs,
        validation_data=bundle.validation,
        shuffle=False,
    )


def test_grid_search_on_digits_beats_a_bad_learning_rate_and_survives_a_nan_trial(tmp_path):
    # Grid order: the default (first) value, then the others as listed -- the diverging trial
    # (SGD-momentum at lr 1e4) runs second, so the search has to go on after it.
    result = tune(
        "plain_mlp",
        "digits",
        tuner="grid",
        max_trials=None,
        epochs=3,
        batch_size=64,
        validation_split=0.2,
        overrides={"learning_rate": [1e-6, 1e4, 0.1], "optimizer": "momentum", "width": 64, "dropout": 0.0},
        directory=tmp_path,
        project_name="lr",
        retrain_epochs=3,
        verbose=0,
    )
    trials = result.results["trials"]
    assert [t["values"]["learning_rate"] for t in trials] == [1e-6, 1e4, 0.1]
    bad, nan, good = trials
    assert nan["status"] == "FAILED" and nan["score"] is None
    assert "diverged" in nan["message"]
    assert bad["status"] == good["status"] == "COMPLETED"
    assert good["score"] > bad["score"] + 0.5, (good["score"], bad["score"])
    assert good["score"] > 0.85
    assert result.results["best_trial"] == good["trial"]
    assert result.best_values["learning_rate"] == 0.1
    # Retrained on train + validation, tested once.
    assert result.final.metrics["epochs_run"] == 3
    assert result.test_metrics["test_accuracy"] > 0.85

    saved = json.loads((tmp_path / "lr" / "results.json").read_text())
    assert saved["objective"] == "val_accuracy" and saved["direction"] == "max"
    assert saved["trials"] == trials
    assert saved["retrain"]["test_accuracy"] == result.test_metrics["test_accuracy"]
    with open(tmp_path / "lr" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert [float(r["learning_rate"]) for r in rows] == [1e-6, 1e4, 0.1]
    assert float(rows[2]["val_accuracy"]) == pytest.approx(good["score"])
    assert rows[1]["val_accuracy"] == "" and float(rows[0]["seconds"]) > 0
    png = (tmp_path / "lr" / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


class Interrupted(BaseException):
    """Stands in for Ctrl-C / a dying process: not an Exception, so keras-tuner does not catch it."""


class CountingMLP(PlainMLPHyperModel):
    def __init__(self, *args, log, interrupt_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.log, self.interrupt_at = log, interrupt_at

    def fit(self, hp, model, *args, **kwargs):
        self.log.append(dict(hp.values))
        if len(self.log) == self.interrupt_at:
            raise Interrupted
        return super().fit(hp, model, *args, **kwargs)


def test_interrupted_search_resumes_without_repeating_finished_trials(tmp_path, digits):
    def tuner(log, interrupt_at=None):
        hm = CountingMLP(
            "plain_mlp",
            input_shape=digits.info.input_shape,
            classes=10,
            log=log,
            interrupt_at=interrupt_at,
        )
        overrides = {"width": (16, 256, 16), "optimizer": "adam", "learning_rate": 0.01, "dropout": 0.0}
        return make_tuner(hm, max_trials=3, overrides=overrides, directory=tmp_path, project_name="r")

    first = []
    with pytest.raises(Interrupted):
        _search(tuner(first, interrupt_at=2), digits, epochs=1)
    finished = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("r/trial_*/trial.json"))]
    assert [t["status"] for t in finished] == ["COMPLETED", "RUNNING"]

    second = []
    resumed = tuner(second)
    _search(resumed, digits, epochs=1)
    assert len(second) == 2  # the interrupted trial again, then the last one
    assert second[0] == first[1]
    assert first[0] not in second
    trials = resumed.oracle.trials
    assert sorted(trials) == ["0", "1", "2"]
    assert all(t.status == "COMPLETED" for t in trials.values())
    assert len({t.hyperparameters.values["width"] for t in trials.values()}) == 3


@pytest.mark.parametrize(
    "kind, cls", [("random", RandomSearch), ("bayesian", BayesianOptimization),
                  ("hyperband", Hyperband), ("grid", GridSearch)],
)
def test_make_tuner_picks_the_tuner(tmp_path, kind, cls):
    hm = PlainMLPHyperModel("plain_mlp", input_shape=(8, 8, 1), classes=10)
    t = make_tuner(hm, tuner=kind, objective="val_loss", max_epochs=4, directory=tmp_path)
    assert type(t) is cls
    assert (t.oracle.objective.name, t.oracle.objective.direction) == ("val_loss", "min")


@pytest.mark.parametrize("kind, budget", [("bayesian", {"max_trials": 2}), ("hyperband", {"max_epochs": 2})])
def test_bayesian_and_hyperband_search_digits(tmp_path, digits, kind, budget):
    hm = PlainMLPHyperModel("plain_mlp", input_shape=digits.info.input_shape, classes=10)
    overrides = {"width": [16, 32, 64], "depth": 1, "dropout": 0.0, "optimizer": "adam"}
    t = make_tuner(hm, tuner=kind, overrides=overrides, directory=tmp_path, **budget)
    _search(t, digits, epochs=2)
    trials = list(t.oracle.trials.values())
    assert len(trials) >= 2
    assert all(tr.status == "COMPLETED" for tr in trials)
    assert all(tr.metrics.get_last_value(SECONDS) > 0 for tr in trials)
    assert all(0.0 <= tr.score <= 1.0 for tr in trials)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tuner="annealing"), "tuner"),
        (dict(objective="accuracy"), "objective"),
        (dict(max_trials=0), "max_trials"),
        (dict(max_trials=None), "max_trials"),
        (dict(max_epochs=0), "max_epochs"),
        (dict(max_consecutive_failed_trials=0), "max_consecutive_failed_trials"),
        (dict(overrides={"widht": 3}), "widht"),
    ],
)
def test_make_tuner_rejects_bad_arguments(tmp_path, kwargs, match):
    hm = PlainMLPHyperModel("plain_mlp", input_shape=(8, 8, 1), classes=10)
    with pytest.raises(ValueError, match=match):
        make_tuner(hm, directory=tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="plain_mpl"), "plain_mlp"),
        (dict(dataset="cifar11"), "dataset"),
        (dict(validation_split=0.0), "validation_split"),
        (dict(epochs=0), "epochs must be a positive integer; received epochs=0"),
        (dict(role="boss"), "role"),
        (dict(port=70000), "port"),
        (dict(training="fast"), "training"),
    ],
)
def test_tune_rejects_bad_arguments_before_writing(tmp_path, kwargs, match):
    args = {"model": "plain_mlp", "dataset": "digits", **kwargs}
    with pytest.raises(ValueError, match=match):
        tune(args.pop("model"), args.pop("dataset"), directory=tmp_path, **args)
    assert not any(tmp_path.iterdir())


def test_failed_trials_in_a_row_stop_the_search(tmp_path, digits):
    hm = PlainMLPHyperModel("plain_mlp", input_shape=digits.info.input_shape, classes=10)
    overrides = {"learning_rate": [1e4, 1e5], "optimizer": "momentum", "width": 64, "dropout": 0.0}
    t = make_tuner(hm, tuner="grid", max_trials=None, overrides=overrides, directory=tmp_path,
                   max_consecutive_failed_trials=2)
    with pytest.raises(RuntimeError, match="consecutive failures"):
        _search(t, digits, epochs=1)
    assert [tr.status for tr in t.oracle.trials.values()] == [kt.engine.trial.TrialStatus.FAILED] * 2
