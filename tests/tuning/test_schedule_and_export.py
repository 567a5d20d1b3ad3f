"""Trials train the base schedule rescaled to their length; a bad export name fails before the search
(the export itself: tests/training/test_recipes.py, `--smoke --tune`)."""

import json

import keras
import keras_tuner as kt
import pytest

import kzoo.tuning.driver
from kzoo.cli import main
from kzoo.training import TrainConfig
from kzoo.tuning import schedule_for, tune
from kzoo.tuning.hypermodels import hypermodel_for

RESNET = TrainConfig("resnet20", "cifar10", "runs/r", epochs=182, schedule="multistep",
                     milestones=(91, 136), gamma=0.1)


@pytest.mark.parametrize(
    "epochs, milestones, schedule",
    [(182, (91, 136), "multistep"), (10, (5, 7), "multistep"), (3, (1, 2), "multistep"),
     (4, (2,), "multistep"), (2, (1,), "multistep"), (1, (), "constant"),
     (364, (182, 272), "multistep")],
)
def test_multistep_milestones_move_to_the_same_fractions(epochs, milestones, schedule):
    trial = schedule_for(RESNET, epochs)
    assert (trial.epochs, trial.milestones, trial.schedule) == (epochs, milestones, schedule)
    assert trial.validate() is trial
    assert RESNET.epochs == 182  # the base is not changed


def test_rescaled_milestones_are_distinct_and_cosine_keeps_its_shape():
    wrn = TrainConfig("wrn_16_4", "cifar10", "r", epochs=200, schedule="multistep", milestones=(60, 120, 160))
    assert schedule_for(wrn, 4).milestones == (1, 2, 3)
    assert schedule_for(wrn, 3).milestones == (1, 2)  # 0.9, 1.8, 2.4 -> 0 dropped, 1, 2
    cosine = schedule_for(TrainConfig("plain_mlp", "digits", "r", epochs=10, schedule="cosine"), 3)
    assert (cosine.epochs, cosine.schedule, cosine.milestones) == (3, "cosine", ())
    with pytest.raises(ValueError, match="epochs"):
        schedule_for(RESNET, 0)


def test_a_trial_decays_at_its_own_milestones():
    # 8 trial epochs of the 182-epoch schedule, 2 steps per epoch: decays at epochs 4 and 5,
    # i.e. from steps 8 and 10 on.
    hm = hypermodel_for("plain_mlp", input_shape=(8, 8, 1), classes=10,
                        training=schedule_for(RESNET, 8), steps_per_epoch=2)
    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", 0.1)
    hp.Fixed("optimizer", "momentum")
    optimizer = hm.build(hp).optimizer
    lrs = []
    for step in (0, 7, 8, 9, 10, 15):
        optimizer.iterations.assign(step)
        lrs.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_trials_and_retraining_use_rescaled_schedules(tmp_path, monkeypatch):
    seen = []
    real = kzoo.tuning.hypermodels.hypermodel_for

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(kzoo.tuning.hypermodels, "hypermodel_for", spy)
    base = TrainConfig("plain_mlp", "digits", str(tmp_path / "unused"), epochs=20, batch_size=32,
                       schedule="multistep", milestones=(10, 15), max_steps_per_epoch=2,
                       label_smoothing=0.1, tensorboard=False, verbose=0)
    result = tune("plain_mlp", "digits", tuner="random", max_trials=1, epochs=2, training=base,
                  overrides={"width": 16, "optimizer": "momentum", "learning_rate": 0.05},
                  retrain_epochs=3, directory=tmp_path / "tuning", project_name="p", verbose=0)
    (kwargs,) = seen
    trial = kwargs["training"]
    assert (trial.epochs, trial.milestones, trial.label_smoothing) == (2, (1,), 0.1)
    assert kwargs["steps_per_epoch"] == 2  # the base's max_steps_per_epoch
    assert result.results["trials"][0]["epochs"] == 2
    retrained = json.loads((result.final.run_dir / "config.json").read_text())["config"]
    assert (retrained["epochs"], retrained["milestones"]) == (3, [1, 2])
    assert (retrained["validation_split"], retrained["label_smoothing"]) == (0.0, 0.1)
    assert result.export_path is None


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(export="../evil"), "name"), (dict(export="a/b"), "name"), (dict(export=""), "name"),
     (dict(export="ok", export_root="a\0b"), "root"), (dict(export="ok", retrain=False), "retrain")],
)
def test_a_bad_export_fails_before_the_search(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tune("plain_mlp", "digits", directory=tmp_path / "tuning", **kwargs)
    assert not any(tmp_path.iterdir())


def test_kzoo_tune_refuses_a_bad_export_name_before_any_trial(tmp_path, capsys):
    argv = ["tune", "plain_mlp", "--export", "../up", "--tune-dir", str(tmp_path / "tuning"),
            "--export-root", str(tmp_path / "saved")]
    assert main(argv) == 2
    assert "name='../up'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
