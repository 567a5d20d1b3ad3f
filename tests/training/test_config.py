"""TrainConfig validation: every bad argument is named, before any file is written."""

import pytest

from kzoo.training import TrainConfig, train
from kzoo.training.config import OPTIMIZERS, SCHEDULES


def _config(tmp_path, **overrides):
    base = dict(model="plain_mlp", dataset="digits", run_dir=str(tmp_path / "run"))
    return TrainConfig(**{**base, **overrides})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -8}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"schedule": "exponential"}, "schedule"),
        ({"schedule": "multistep", "epochs": 10, "milestones": (6, 3)}, "strictly increasing"),
        ({"schedule": "multistep", "epochs": 10, "milestones": (5, 5)}, "strictly increasing"),
        ({"schedule": "multistep", "epochs": 10, "milestones": (5, 10)}, "milestones"),
        ({"schedule": "multistep", "epochs": 10, "milestones": (0, 5)}, "milestones"),
        ({"schedule": "multistep", "epochs": 10, "milestones": ()}, "milestones"),
        ({"schedule": "cosine", "milestones": (3,)}, "milestones"),
        ({"model": "resnet_21"}, "model"),
        ({"dataset": "cifar11"}, "dataset"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"weight_decay_mode": "l1"}, "weight_decay_mode"),
        ({"optimizer": "adamw", "weight_decay_mode": "l2"}, "weight_decay_mode"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"early_stopping_patience": 0}, "early_stopping_patience"),
        ({"early_stopping_patience": 3, "validation_split": 0.0}, "validation"),
        ({"mixed_precision": "float8"}, "mixed_precision"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"seed": -1}, "seed"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_argument_is_named_before_anything_is_written(tmp_path, overrides, message):
    config = _config(tmp_path, **overrides)
    with pytest.raises(ValueError, match=message):
        train(config)
    assert not (tmp_path / "run").exists()


def test_errors_list_the_valid_values(tmp_path):
    with pytest.raises(ValueError) as err:
        _config(tmp_path, optimizer="lbfgs").validate()
    assert all(name in str(err.value) for name in OPTIMIZERS)
    assert "received optimizer='lbfgs'" in str(err.value)
    with pytest.raises(ValueError) as err:
        _config(tmp_path, schedule="exp").validate()
    assert all(name in str(err.value) for name in SCHEDULES)
    with pytest.raises(ValueError) as err:
        _config(tmp_path, model="resnet_21").validate()
    assert "resnet20" in str(err.value)  # close matches and the full list
    with pytest.raises(ValueError) as err:
        _config(tmp_path, dataset="digitz").validate()
    assert "'digitz'" in str(err.value) and "digits" in str(err.value)


def test_bad_model_kwargs_fail_before_the_run_directory_is_made(tmp_path):
    with pytest.raises(ValueError, match="depth"):
        train(_config(tmp_path, model_kwargs={"depth": 0}))
    assert not (tmp_path / "run").exists()


def test_valid_config_passes_and_resolves_the_decay_mode(tmp_path):
    config = _config(tmp_path, schedule="multistep", epochs=182, milestones=(91, 136))
    assert config.validate() is config
    assert config.decay_mode == "l2"
    assert _config(tmp_path, optimizer="adamw").decay_mode == "decoupled"


def test_fingerprint_ignores_where_and_how_loudly(tmp_path):
    a = _config(tmp_path)
    b = _config(tmp_path, run_dir=str(tmp_path / "elsewhere"), verbose=0, overwrite=True)
    c = _config(tmp_path, learning_rate=0.05)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
    assert set(c.differences(a.to_dict())) == {"learning_rate"}


@pytest.mark.parametrize(
    "kwargs, fingerprint",
    [
        (dict(model="resnet20", epochs=3, schedule="multistep", milestones=(1, 2),
              model_kwargs={"dropout": 0.1}, weight_decay=1e-4),
         "d89b365c4afd2079f52d3e7a09bf2597b0363517d8a5afc3e9bdc2c863ad8cfb"),
        (dict(), "a0b7ac79d8d3825766018e310ea88fc157532521b93a229e644a0697653d9170"),
        (dict(per_replica_batch=True, lr_scaling="linear", strategy="mirrored"),
         "a0acbc5d374c53686d201551af10a9f387defbeca29208f5672dd82197391049"),
    ],
)
def test_fingerprints_are_those_of_runs_made_before_the_settings_declarations(kwargs, fingerprint):
    # Hashes computed by the TrainConfig of 2026-12-01 (before `setting(...)` declarations): run
    # directories made then must still resume.
    config = TrainConfig(**{"model": "plain_mlp", "dataset": "digits", "run_dir": "r", **kwargs})
    assert config.fingerprint() == fingerprint
