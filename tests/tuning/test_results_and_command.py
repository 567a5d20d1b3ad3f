import argparse
import csv
import json

import pytest

import kzoo.tuning.driver
from kzoo.cli import build_parser
from kzoo.training import TrainConfig
from kzoo.tuning.command import add_tune_arguments, tune_from_args
from kzoo.tuning.results import format_table, write_results

RESULTS = {
    "objective": "val_loss",
    "direction": "min",
    "hyperparameters": ["learning_rate", "optimizer", "tuner/epochs"],
    "best_trial": "1",
    "trials": [
        {"trial": "0", "status": "COMPLETED", "values": {"learning_rate": 1e-4, "optimizer": "adam",
         "tuner/epochs": 2}, "score": 0.9, "seconds": 1.5, "epochs": 2, "message": ""},
        {"trial": "1", "status": "COMPLETED", "values": {"learning_rate": 1e-2, "optimizer": "momentum",
         "tuner/epochs": 2}, "score": 0.4, "seconds": 2.0, "epochs": 2, "message": ""},
        {"trial": "2", "status": "FAILED", "values": {"learning_rate": 10.0, "optimizer": "momentum",
         "tuner/epochs": 2}, "score": None, "seconds": None, "epochs": None,
         "message": "FailedTrialError: Training diverged"},
    ],
}


def test_table_and_files(tmp_path):
    table = format_table(RESULTS).splitlines()
    assert table[0].split() == ["trial", "learning_rate", "optimizer", "tuner/epochs", "val_loss", "seconds", "status"]
    assert table[2].split() == ["0", "0.0001", "adam", "2", "0.9", "1.5", "COMPLETED"]
    assert table[4].split() == ["2", "10", "momentum", "2", "-", "-", "FAILED"]
    assert table[-1] == "best trial: 1"
    paths = write_results(RESULTS, tmp_path / "out")
    assert json.loads(open(paths["json"]).read()) == RESULTS
    with open(paths["csv"], newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["trial", "learning_rate", "optimizer", "tuner/epochs", "val_loss", "seconds", "epochs",
                       "status", "message"]
    assert rows[3] == ["2", "10.0", "momentum", "2", "", "", "", "FAILED", "FailedTrialError: Training diverged"]
    assert open(paths["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_a_failing_figure_leaves_the_previous_files_whole(tmp_path, monkeypatch):
    import matplotlib.figure

    paths = write_results(RESULTS, tmp_path)
    before = {k: open(p, "rb").read() for k, p in paths.items()}

    def broken_savefig(self, fname, *args, **kwargs):  # dies half-way through the PNG
        if isinstance(fname, (str, bytes)) or hasattr(fname, "__fspath__"):
            with open(fname, "wb") as f:
                f.write(before["png"][:100])
        else:
            fname.write(before["png"][:100])
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        write_results({**RESULTS, "best_trial": "0"}, tmp_path)
    assert open(paths["png"], "rb").read() == before["png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json", "results.png"]


def test_results_do_not_collide_with_a_stale_temporary_file(tmp_path):
    # The temporary names are unique: a leftover (or another writer's) `results.json.tmp` is no
    # obstacle and is left alone.
    for name in ("results.json.tmp", "results.csv.tmp", "results.png.tmp"):
        (tmp_path / name).mkdir()
    paths = write_results(RESULTS, tmp_path)
    assert json.loads(open(paths["json"]).read()) == RESULTS
    assert all((tmp_path / name).is_dir() for name in ("results.json.tmp", "results.csv.tmp"))


@pytest.fixture
def captured(monkeypatch):
    """Replaces the search: records the TuneConfig each call builds."""
    calls = []

    def tune(config):
        calls.append(config)
        return kzoo.tuning.driver.TuneResult(project_dir=config.project_dir)

    monkeypatch.setattr(kzoo.tuning.driver, "tune", tune)
    return calls


def test_kzoo_tune_command_line(captured):
    args = build_parser().parse_args(
        ["tune", "snn_mlp", "--dataset", "wine", "--tuner", "bayesian", "--max-trials", "7",
         "--hp", "dropout=0.05", "--hp", "depth=2:8:2", "--worker", "--port", "9123", "--seed", "3",
         "--trial-epochs", "4", "--weight-decay", "1e-4"]
    )
    assert args.func(args) == 0
    (config,) = captured
    assert (config.model, config.dataset) == ("snn_mlp", "wine")
    assert (config.tuner, config.max_trials, config.role, config.port, config.host) == (
        "bayesian", 7, "worker", 9123, "127.0.0.1")
    assert config.overrides == ["dropout=0.05", "depth=2:8:2"]
    # The training flags set the base of the trials; its length defaults to the trials'.
    base = config.base_training()
    assert (base.seed, base.batch_size, base.weight_decay, base.epochs) == (3, 128, 1e-4, 4)
    assert (config.retrain, config.overwrite, config.export, config.export_root) == (
        True, False, None, "saved_models")
    args = build_parser().parse_args(["tune", "plain_mlp", "--export", "digits_mlp", "--export-root", "out"])
    args.func(args)
    assert (captured[1].export, captured[1].export_root, captured[1].training) == (
        "digits_mlp", "out", None)


def test_recipe_options_do_not_clash(captured):
    parser = argparse.ArgumentParser()
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--validation-split", type=float, default=0.1)
    add_tune_arguments(parser, with_model=False)
    args = parser.parse_args(["--tune", "--overwrite", "--tune-overwrite", "--chief", "--no-retrain",
                              "--tune-validation-split", "0.2"])
    assert args.tune and args.overwrite and args.tune_overwrite
    assert (args.validation_split, args.tune_validation_split) == (0.1, 0.2)
    config = TrainConfig("resnet20", "cifar10", "runs/r", verbose=2)
    tune_from_args(args, model="resnet20", dataset="cifar10", training=config)
    (tuning,) = captured
    assert (tuning.model, tuning.dataset) == ("resnet20", "cifar10")
    assert (tuning.role, tuning.retrain, tuning.training, tuning.overwrite) == (
        "chief", False, config, True)
    assert tuning.verbose == 2  # the recipe's verbosity


def test_recipe_tuning_under_a_strategy_is_refused():
    import argparse

    from kzoo.training import TrainConfig
    from kzoo.tuning.command import tune_recipe

    config = TrainConfig(model="plain_mlp", dataset="digits", run_dir="unused", strategy="mirrored")
    with pytest.raises(ValueError, match=r"one device, not under strategy; received strategy='mirrored'"):
        tune_recipe(argparse.Namespace(tune=True), config)
