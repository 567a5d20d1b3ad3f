"""Recipes: the papers' settings as defaults, each recipe end to end (--smoke), and kill -9 + resume."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo.training.cli_args import milestones_at

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _recipe(name):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def _config(module, recipe, argv):
    import argparse

    from kzoo.training.cli_args import add_train_args, config_from_args

    args = add_train_args(argparse.ArgumentParser(), module.PAPER).parse_args(argv)
    return config_from_args(
        args, module.PAPER, recipe=recipe, smoke=module.SMOKE, milestone_fractions=module.MILESTONES
    )


def test_milestones_follow_the_papers_fractions():
    assert milestones_at((0.5, 0.75), 182) == (91, 136)  # He 2015: 32k, 48k of 64k iterations
    assert milestones_at((0.3, 0.6, 0.8), 200) == (60, 120, 160)  # Zagoruyko 2016
    assert milestones_at((0.5, 0.75), 300) == (150, 225)  # Huang 2017
    assert milestones_at((0.5, 0.75), 2) == (1,)
    assert milestones_at((0.5, 0.75), 1) == ()


@pytest.mark.parametrize(
    "recipe, expected",
    [
        (
            "resnet_cifar",
            dict(model="resnet20", dataset="cifar10", batch_size=128, optimizer="momentum",
                 momentum=0.9, learning_rate=0.1, gamma=0.1, epochs=182, milestones=(91, 136),
                 weight_decay=1e-4, decay_mode="l2", validation_split=0.1, augment=True),
        ),
        (
            "wrn_cifar",
            dict(model="wrn_28_10", batch_size=128, optimizer="nesterov", learning_rate=0.1,
                 gamma=0.2, epochs=200, milestones=(60, 120, 160), weight_decay=5e-4),
        ),
        (
            "densenet_cifar",
            dict(model="densenet_bc_100_12", batch_size=64, optimizer="nesterov",
                 learning_rate=0.1, gamma=0.1, epochs=300, milestones=(150, 225),
                 weight_decay=1e-4),
        ),
    ],
)  # fmt: skip
def test_cifar_recipes_default_to_the_papers_settings(recipe, expected):
    config = _config(_recipe(recipe), recipe, [])
    for key, value in expected.items():
        assert getattr(config, key) == value, key
    assert config.validate() is config


def test_command_line_overrides_the_defaults_and_rescales_milestones():
    module = _recipe("resnet_cifar")
    config = _config(
        module, "resnet_cifar", ["--epochs", "40", "--lr", "0.05", "--model", "resnet56"]
    )
    assert (config.epochs, config.milestones, config.learning_rate) == (40, (20, 30), 0.05)
    assert config.run_dir == os.path.join("runs", "resnet_cifar", "resnet56-cifar10")
    config = _config(module, "resnet_cifar", ["--milestones", "5", "7", "--epochs", "9"])
    assert config.milestones == (5, 7)
    smoke = _config(module, "resnet_cifar", ["--smoke", "--batch-size", "16"])
    assert (smoke.dataset, smoke.epochs, smoke.batch_size) == ("digits", 2, 16)
    assert smoke.model == "resnet20" and smoke.milestones == (1,)
    dirs = _config(module, "resnet_cifar", ["--data-dir", "/data/tfds", "--manual-dir", "/dl"])
    assert (dirs.data_dir, dirs.manual_dir) == ("/data/tfds", "/dl")
    # Where the data lives does not change what is trained: the run can resume from elsewhere.
    assert dirs.fingerprint() == _config(module, "resnet_cifar", []).fingerprint()


def test_snn_recipe_methods_build_the_papers_networks():
    module = _recipe("snn_uci")
    assert set(module.METHODS) == {
        "SNN",
        "MSRAinit",
        "BatchNorm",
        "LayerNorm",
        "WeightNorm",
        "Highway",
        "ResNet",
    }
    classes = set()
    for model_name, kwargs in module.METHODS.values():
        model = kzoo.create_model(
            model_name, depth=2, width=8, input_shape=(13,), classes=3, **kwargs
        )
        classes |= {layer.__class__.__name__ for layer in model.layers}
    assert {
        "AlphaDropout",
        "FusedBatchNormalization",
        "LayerNormalization",
        "WeightNormDense",
        "Highway",
        "Add",
    } <= classes
    assert module.ranks(np.array([[0.9, 0.5], [0.8, 0.5], [0.95, 0.7]])).tolist() == [
        [2.0, 2.5],
        [3.0, 2.5],
        [1.0, 1.0],
    ]


@pytest.fixture
def fake_tune(monkeypatch, tmp_path):
    """Replaces the search: records each TuneConfig, returns a finished search's TuneResult."""
    import kzoo.tuning.driver

    calls = []

    def tune(config):
        calls.append(config)
        return kzoo.tuning.driver.TuneResult(
            project_dir=tmp_path, results={"best_trial": "0"}, best_values={"learning_rate": 0.1},
            test_metrics={"test_accuracy": 0.5 + 0.1 * len(calls), "test_loss": 1.0},
        )

    monkeypatch.setattr(kzoo.tuning.driver, "tune", tune)
    return calls


@pytest.mark.parametrize(
    "recipe, argv, model_kwargs",
    [("resnet_cifar", [], {}), ("wrn_cifar", ["--dropout", "0.3"], {"dropout": 0.3}),
     ("densenet_cifar", ["--no-augment"], {"dropout": 0.2})],
)  # fmt: skip
def test_cifar_recipes_tune_around_their_own_config(recipe, argv, model_kwargs, fake_tune, capsys):
    module = _recipe(recipe)
    flags = ["--smoke", "--tune", "--max-trials", "3", "--trial-epochs", "2", "--overwrite"]
    flags += ["--tune-overwrite", "--hp", "learning_rate=0.01:0.3:log", "--export", "best"]
    assert module.main([*flags, *argv, "--epochs", "4"]) == 0
    (call,) = fake_tune
    train_argv = [a for a in argv if a == "--no-augment"]  # --dropout is a builder argument
    expected = _config(module, recipe, ["--smoke", "--overwrite", "--epochs", "4", *train_argv])
    training = call.training
    assert (call.model, call.dataset) == (expected.model, "digits")
    assert (training.epochs, training.milestones, training.max_steps_per_epoch) == (4, expected.milestones, 3)
    assert (training.optimizer, training.gamma, training.weight_decay) == (
        expected.optimizer, expected.gamma, expected.weight_decay)
    assert training.model_kwargs == model_kwargs and training.overwrite
    assert (call.max_trials, call.epochs, call.overwrite) == (3, 2, True)
    # A smoke search and its export never share a name with real ones.
    assert (call.overrides, call.export, call.export_root) == (
        ["learning_rate=0.01:0.3:log"], "best-smoke", "saved_models")
    assert call.project_name == f"{expected.model}_digits_random-smoke"
    assert "| " + expected.model in capsys.readouterr().out


def test_snn_recipe_tunes_each_method_on_each_dataset(fake_tune, tmp_path):
    module = _recipe("snn_uci")
    argv = ["--smoke", "--tune", "--datasets", "iris", "wine", "--run-dir", str(tmp_path / "snn")]
    assert module.main([*argv, "--export", "snn", "--tune-validation-split", "0.2"]) == 0
    tasks = [f"{m}-{d}" for m in ("SNN", "BatchNorm") for d in ("iris", "wine")]
    assert [c.project_name for c in fake_tune] == [f"{t}-smoke" for t in tasks]
    assert [c.export for c in fake_tune] == [f"snn-{t}-smoke" for t in tasks]
    assert {c.validation_split for c in fake_tune} == {0.2}
    snn = fake_tune[0].training
    assert (snn.model, snn.model_kwargs, snn.optimizer) == ("snn_mlp", {"dropout": 0.05, "depth": 2, "width": 16}, "sgd")
    results = json.loads((tmp_path / "snn" / "results.json").read_text())["results"]
    # The fake's test accuracies 0.6, 0.7 (SNN) and 0.8, 0.9 (BatchNorm) decide the ranking.
    assert [(r["method"], r["iris"], r["wine"]) for r in results] == [
        ("BatchNorm", 0.8, 0.9), ("SNN", 0.6, 0.7)]


def _run(args, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=900, **kwargs
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe", ["quickstart", "resnet_cifar", "wrn_cifar", "densenet_cifar", "snn_uci"]
)
def test_recipe_runs_end_to_end_with_smoke(recipe, tmp_path):
    run = tmp_path / recipe
    extra = ["--export-root", str(tmp_path / "saved")] if recipe == "quickstart" else []
    done = _run([str(RECIPES / f"{recipe}.py"), "--smoke", "--run-dir", str(run), *extra])
    assert done.returncode == 0, done.stderr[-3000:]
    if recipe == "quickstart":  # steps 5 and 6: the search's best model, exported and verified
        # under a smoke name: a real export's latest version is never a smoke model
        smoke = tmp_path / "saved" / "quickstart_resnet20-smoke" / "1"
        assert (smoke / "saved_model.pb").is_file()
        assert not (tmp_path / "saved" / "quickstart_resnet20").exists()
        assert "best learning rate" in done.stdout
    assert "| model" in done.stdout or "| method" in done.stdout
    if recipe == "snn_uci":
        results = json.loads((run / "results.json").read_text())["results"]
        assert [r["method"] for r in results] and {r["method"] for r in results} == {
            "SNN",
            "BatchNorm",
        }
        assert sorted(r["average_rank"] for r in results) in ([1.0, 2.0], [1.5, 1.5])
        metrics = [json.loads(p.read_text()) for p in run.glob("*/metrics.json")]
    else:
        metrics = [json.loads((run / "metrics.json").read_text())]
    assert metrics and all(
        m["epochs_run"] == 2 and m["dataset"] in ("digits", "iris") for m in metrics
    )
    assert all(0 <= m["test_accuracy"] <= 1 for m in metrics)


@pytest.mark.slow
def test_recipe_smoke_tune_searches_retrains_and_exports(tmp_path):
    argv = [str(RECIPES / "resnet_cifar.py"), "--smoke", "--tune", "--max-trials", "2"]
    argv += ["--trial-epochs", "2", "--tune-dir", str(tmp_path / "tuning"), "--export", "resnet"]
    argv += ["--export-root", str(tmp_path / "saved"), "--run-dir", str(tmp_path / "unused")]
    done = _run(argv)
    assert done.returncode == 0, done.stderr[-3000:]
    project = tmp_path / "tuning" / "resnet20_digits_random-smoke"  # never a real search's name
    results = json.loads((project / "results.json").read_text())
    assert [t["status"] for t in results["trials"]] == ["COMPLETED", "COMPLETED"]
    assert all(t["epochs"] == 2 for t in results["trials"])
    retrain = results["retrain"]
    saved = json.loads((Path(retrain["run_dir"]) / "config.json").read_text())["config"]
    # The recipe's smoke schedule: 2 epochs of 3 steps, multistep decay at epoch 1, L2 decay.
    assert (saved["epochs"], saved["milestones"], saved["max_steps_per_epoch"]) == (2, [1], 3)
    assert (saved["weight_decay"], saved["validation_split"]) == (1e-4, 0.0)
    assert retrain["export"] == str(tmp_path / "saved" / "resnet-smoke" / "1")  # --export resnet
    assert (tmp_path / "saved" / "resnet-smoke" / "1" / "saved_model.pb").is_file()
    assert "| resnet20 | digits" in done.stdout and "resnet-smoke/1" in done.stdout
    assert not (tmp_path / "unused").exists()  # --tune trains no plain run


@pytest.mark.slow
def test_quickstart_killed_with_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    # The quickstart with a small MLP (cheap to start three times), 8 short epochs.
    epochs = 8
    common = [str(RECIPES / "quickstart.py"), "--epochs", str(epochs), "--verbose", "0"]
    common += ["--model", "plain_mlp", "--max-steps-per-epoch", "12"]
    common += ["--no-search", "--no-export"]
    reference = _run([*common, "--run-dir", str(tmp_path / "whole")])
    assert reference.returncode == 0, reference.stderr[-3000:]

    run = tmp_path / "killed"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, *common, "--run-dir", str(run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metadata = run / "checkpoint" / "training_metadata.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    finished = json.loads(metadata.read_text())["epoch"]
    assert 3 <= finished < epochs and not (run / "metrics.json").exists()

    resumed = _run([*common, "--run-dir", str(run)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))
    a = keras.saving.load_model(tmp_path / "whole" / "model.keras", safe_mode=True)
    b = keras.saving.load_model(run / "model.keras", safe_mode=True)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-6)
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    again = json.loads((run / "metrics.json").read_text())
    assert again["test_accuracy"] == whole["test_accuracy"]
    assert again["test_loss"] == pytest.approx(whole["test_loss"], abs=1e-6)


def test_kzoo_train_command(tmp_path, capsys):
    from kzoo.cli import main

    run = tmp_path / "cli"
    assert (
        main(
            [
                "train",
                "--model",
                "plain_mlp",
                "--dataset",
                "digits",
                "--lr",
                "0",
                "--run-dir",
                str(run),
            ]
        )
        == 2
    )
    # The error names the flag the user typed, not the config field behind it.
    assert "--lr must be > 0" in capsys.readouterr().err and not run.exists()
    assert main(["train", "--dataset", "digits"]) == 2
    argv = ["train", "--model", "plain_mlp", "--dataset", "digits", "--epochs", "1"]
    argv += ["--max-steps-per-epoch", "3", "--run-dir", str(run), "--verbose", "0"]
    assert main(argv) == 0
    assert "| plain_mlp | digits" in capsys.readouterr().out
    saved = json.loads((run / "config.json").read_text())["config"]
    assert (saved["optimizer"], saved["schedule"], saved["epochs"]) == ("momentum", "cosine", 1)
