"""Every command and recipe, through its typical mistakes: one line naming what the user typed, the
value and what would be valid, exit status 2, no traceback, nothing written (README: "Errors")."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
KZOO = [sys.executable, "-m", "kzoo.cli"]

# (command line, fragments the one error line must contain)
MISTAKES = [
    ([], ["kzoo: error:", "COMMAND"]),
    (["trian"], ["invalid choice: 'trian'", "did you mean train?"]),
    (["train", "--model", "resnet20"], ["kzoo train: error:", "--dataset required"]),
    (["train", "--model", "resnt20", "--dataset", "digits"],
     ["unknown --model; received 'resnt20'", "Did you mean resnet20"]),
    (["train", "--model", "resnet20", "--dataset", "digitz"], ["unknown --dataset", "digits"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--lr", "-1"],
     ["--lr must be > 0; received -1"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--lr", "fast"],
     ["argument --lr: must be a number; received 'fast'"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--optimizer", "adma"],
     ["--optimizer must be one of", "received 'adma'", "Did you mean 'adam'?"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--epochs", "0"],
     ["--epochs must be a positive integer; received 0"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--schedule", "multistep",
      "--epochs", "3", "--milestones", "5"], ["--milestones must be epochs in [1, --epochs)"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--lrr", "1"],
     ["unrecognized arguments: --lrr 1", "did you mean --lr?"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--optimizer", "adamw",
      "--weight-decay-mode", "l2"], ["--weight-decay-mode", "received 'l2'", "--optimizer adam"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--model-arg", "dropout"],
     ["--model-arg", "NAME=VALUE"]),
    (["tune", "plain_mpl"], ["kzoo tune: error:", "unknown model", "plain_mlp"]),
    (["tune", "plain_mlp", "--tuner", "annealing"], ["--tuner must be one of", "'annealing'"]),
    (["tune", "plain_mlp", "--trial-epochs", "0"], ["--trial-epochs must be a positive integer"]),
    (["tune", "plain_mlp", "--validation-split", "1"], ["--validation-split must be in (0, 1)"]),
    (["tune", "plain_mlp", "--export", "../x"], ["name='../x'"]),
    (["tune", "plain_mlp", "--export", "ok", "--no-retrain"], ["--export", "--no-retrain"]),
    (["info", "resnt20"], ["kzoo info: error:", "resnet20"]),
    (["info", "saved_models/nonexist"], ["no such file or directory: 'saved_models/nonexist'"]),
    (["info", "resnet20", "--input-shape", "32,x"], ["--input-shape", "comma-separated"]),
    (["export", "nonexist", "--name", "x"], ["kzoo export: error:", "'nonexist'"]),
    (["predict", "nonexist", "a.npy"], ["kzoo predict: error:", "'nonexist'"]),
    (["predict", "nonexist", "a.png", "--resise"], ["--resise", "did you mean --resize?"]),
    (["export", "nonexist", "--name", "x", "--raw-range", "0"],
     ["argument --raw-range: expected 2 arguments"]),
    (["datasets", "--prepare", "cifar11"], ["invalid choice: 'cifar11'", "did you mean cifar10?"]),
    (["launch", "--workers", "0", "--", "kzoo", "train"],
     ["kzoo launch: error: --workers must be a positive integer; received 0"]),
    (["launch", "--workers", "2"], ["kzoo launch: error:", "after `--`"]),
    (["bench", "--models", "resnet21"], ["kzoo bench: error:", "resnet21"]),
    (["finetune", "digits_0to4", "--dataset", "digits_5to9"],
     ["kzoo finetune: error:", "needs --model", "digits_0to4 --model resnet20"]),
    (["finetune", "digits_0to4", "--model", "resnet20"], ["--dataset required"]),
    (["finetune", "digits_0to5", "--model", "resnet20", "--dataset", "digits_5to9"],
     ["weights='digits_0to5'", "Did you mean 'digits_0to4'"]),
    (["finetune", "digits_0to4", "--model", "resnet20", "--dataset", "digits_5to9",
      "--init-from-sha256", "0" * 64], ["its sha256 is", "not the --init-from-sha256 0000"]),
    (["finetune", "digits_0to4", "--model", "resnet20", "--dataset", "digits_5to9",
      "--backbone-lr-mult", "0"], ["--backbone-lr-mult must be > 0"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--snapshots", "3"],
     ["--snapshots cycles must divide --epochs (10) evenly"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--weight-averaging", "ema",
      "--early-stopping", "3"], ["--weight-averaging", "--early-stopping"]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--ema-momentum", "0.5"],
     ["--ema-momentum applies to --weight-averaging ema only", "Add --weight-averaging ema."]),
    (["train", "--model", "resnet20", "--dataset", "digits", "--weight-averaging", "ema",
      "--swa-start", "0.5"], ["--swa-start applies to --weight-averaging swa only"]),
    (["ensemble", "a", "--name", "e"], ["kzoo ensemble: error:", "neither an exported SavedModel"]),
    (["ensemble", "a", "b", "--name", "../e"], ["name='../e'"]),
    (["ensemble", "a", "b", "--name", "e", "--weights", "1", "-1"], ["--weights must be positive"]),
    (["ensemble", "a", "b", "--name", "e", "--weights", "1", "inf"],
     ["--weights must be positive finite numbers; received [1.0, inf]"]),
    (["publish", "nonexist", "--tag", "t"], ["kzoo publish: error:", "not a finished kzoo run"]),
    (["publish", "nonexist", "--tag", "a b"], ["--tag must be letters"]),
]
RECIPE_MISTAKES = [
    ("resnet_cifar.py", ["--lr", "-1"], ["recipes/resnet_cifar.py: error: --lr must be > 0"]),
    ("resnet_cifar.py", ["--model", "resnt20"], ["unknown --model", "resnet20"]),
    ("wrn_cifar.py", ["--dropout", "2"], ["--dropout must be in [0, 1); received 2"]),
    ("densenet_cifar.py", ["--tune", "--tuner", "grd"], ["--tuner must be one of", "'grd'"]),
    ("densenet_cifar.py", ["--tune", "--strategy", "mirrored", "--smoke"],
     ["--tune runs its trials on one device, not under --strategy"]),
    ("snn_uci.py", ["--methods", "SNNN"], ["--methods must be among", "SNNN"]),
    ("snn_uci.py", ["--depth", "0"], ["--depth must be a positive integer"]),
    ("quickstart.py", ["--epochs", "-2"], ["recipes/quickstart.py: error: --epochs"]),
    ("quickstart.py", ["--export-rot", "x"], ["did you mean --export-root?"]),
    ("quickstart.py", ["--strategy", "mirrored"], ["step 5 runs on one device", "--no-search"]),
    ("finetune.py", ["--freeze", " "], ["recipes/finetune.py: error: --freeze must be"]),
    ("finetune.py", ["--init-from", "nowhere/run"], ["--init-from", "no such file"]),
]


def _run(command, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KZOO_DEBUG", None)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def _in_process(main, argv, capsys):
    """Run a command's `main(argv)` here (argparse's mistakes end in SystemExit); return
    (exit status, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def _check(code, stderr, fragments, cwd):
    err = stderr.strip()
    assert code == 2, (code, err[-2000:])
    assert "Traceback" not in stderr
    assert len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert list(Path(cwd).iterdir()) == []  # nothing written: no run, search or export folder


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KZOO_DEBUG", raising=False)
    return tmp_path


@pytest.mark.parametrize("argv, fragments", MISTAKES, ids=lambda v: " ".join(v)[:60] or "none")
def test_kzoo_mistakes_are_one_line(argv, fragments, empty_cwd, capsys):
    from kzoo.cli import main

    _check(*_in_process(main, argv, capsys), fragments, empty_cwd)


@pytest.mark.parametrize("recipe, argv, fragments", RECIPE_MISTAKES,
                         ids=lambda v: v if isinstance(v, str) else " ".join(v)[:40])
def test_recipe_mistakes_are_one_line(recipe, argv, fragments, empty_cwd, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"recipe_{Path(recipe).stem}", RECIPES / recipe)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    _check(*_in_process(module.main, argv, capsys), fragments, empty_cwd)


@pytest.mark.parametrize(
    "command",
    [[*KZOO, "train", "--model", "resnt20", "--dataset", "digits"],
     [sys.executable, str(RECIPES / "resnet_cifar.py"), "--lr", "-1"]],
    ids=["kzoo", "recipe"],
)
def test_a_real_process_prints_one_line_and_exits_2(command, tmp_path):
    done = _run(command, tmp_path)
    _check(done.returncode, done.stderr, [": error:"], tmp_path)


def test_debug_shows_the_traceback(tmp_path):
    argv = [*KZOO, "--debug", "train", "--model", "resnet20", "--dataset", "digits", "--lr", "-1"]
    done = _run(argv, tmp_path)
    assert done.returncode == 1 and "Traceback" in done.stderr and "SettingError" in done.stderr
