import argparse
import csv
import json

import pytest

import kzoo.tuning.driver
from kzoo.cli import build_parser
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


@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(kzoo.tuning.driver, "tune", lambda *a, **k: calls.append((a, k)))
    return calls


def test_kzoo_tune_command_line(captured):
    args = build_parser().parse_args(
        ["tune", "snn_mlp", "--dataset", "wine", "--tuner", "bayesian", "--max-trials", "7",
         "--hp", "dropout=0.05", "--hp", "depth=2:8:2", "--worker", "--port", "9123", "--seed", "3"]
    )
    tune_from_args(args)
    (positional, kw), = captured
    assert positional == ("snn_mlp", "wine")
    assert (kw["tuner"], kw["max_trials"], kw["role"], kw["port"], kw["host"]) == (
        "bayesian", 7, "worker", 9123, "127.0.0.1")
    assert kw["overrides"] == ["dropout=0.05", "depth=2:8:2"]
    assert (kw["seed"], kw["batch_size"], kw["retrain"], kw["overwrite"]) == (3, 128, True, False)


def test_recipe_options_do_not_clash(captured):
    parser = argparse.ArgumentParser()
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--validation-split", type=float, default=0.1)
    add_tune_arguments(parser, with_model=False)
    args = parser.parse_args(["--tune", "--overwrite", "--tune-overwrite", "--chief", "--no-retrain"])
    assert args.tune and args.overwrite and args.tune_overwrite
    tune_from_args(args, model="resnet20", dataset="cifar10", training="config")
    (positional, kw), = captured
    assert positional == ("resnet20", "cifar10")
    assert (kw["role"], kw["retrain"], kw["training"], kw["batch_size"]) == ("chief", False, "config", None)
