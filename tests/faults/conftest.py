"""Shared pieces of the fault-injection suite: a tiny run, its uninterrupted reference, canaries."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
# plain_mlp on digits, 2 steps per epoch: each train() call costs about a second.
QUICK = dict(
    model="plain_mlp",
    model_kwargs={"depth": 1, "width": 16, "dropout": 0.2},
    dataset="digits",
    epochs=3,
    batch_size=32,
    optimizer="momentum",
    learning_rate=0.05,
    max_steps_per_epoch=2,
    verbose=0,
    tensorboard=False,
    mixed_precision="float32",
)
# The same run through `kzoo train` (its defaults for the rest are the same as TrainConfig's).
QUICK_ARGV = [
    "train", "--model", "plain_mlp", "--model-arg", "depth=1", "--model-arg", "width=16",
    "--model-arg", "dropout=0.2", "--dataset", "digits", "--epochs", "3", "--batch-size", "32",
    "--optimizer", "momentum", "--lr", "0.05", "--schedule", "constant",
    "--max-steps-per-epoch", "2", "--verbose", "0", "--no-tensorboard",
    "--mixed-precision", "float32",
]
# What only a finished run has: removing these from a finished run leaves an unfinished one whose
# checkpoint is at the last epoch and whose .bkp pair is one epoch earlier.
FINISHED_ONLY = ("metrics.json", "model.keras", "curves.png")


def quick(run_dir, **overrides):
    from kzoo.training import TrainConfig

    return TrainConfig(**{**QUICK, "run_dir": str(run_dir), **overrides})


def cli_argv(run_dir, *extra) -> list[str]:
    return [*QUICK_ARGV, "--run-dir", str(run_dir), *extra]


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The uninterrupted run: its directory (never modified) and final weights."""
    from kzoo.training import train

    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = train(quick(run_dir))
    keras.backend.clear_session()
    return {"dir": run_dir, "weights": result.model.get_weights(), "history": result.history}


def unfinished_copy(reference, dest) -> Path:
    """A copy of the reference run as if killed after its last checkpoint, before the end."""
    shutil.copytree(reference["dir"], dest, symlinks=True)
    for name in FINISHED_ONLY:
        (dest / name).unlink()
    return dest


def assert_weights_equal(weights, expected) -> None:
    assert len(weights) == len(expected)
    for a, b in zip(weights, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def saved_weights(run_dir) -> list:
    """The weights of a run's model.keras (kzoo's safe loader)."""
    from kzoo.models.keras_files import load_keras

    return load_keras(Path(run_dir) / "model.keras").get_weights()


class Canary:
    """A folder outside the run directory, with a file in it, that no test may change."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.file = folder / "canary.txt"
        self.file.write_text("must not change\n")
        self.snapshot = self._state()

    def _state(self):
        state = {}
        for path in sorted(self.folder.rglob("*")):
            data = path.read_bytes() if path.is_file() else b"<dir>"
            state[str(path.relative_to(self.folder))] = hashlib.sha256(data).hexdigest()
        return state

    def assert_untouched(self) -> None:
        assert self._state() == self.snapshot


@pytest.fixture
def canary(tmp_path):
    return Canary(tmp_path / "outside")


def user_file(run_dir) -> Path:
    """A file of the user's in the run directory, which every test checks survives."""
    path = Path(run_dir) / "my_notes.txt"
    path.write_text("the user's own notes\n")
    return path


def kzoo_command(*argv, **kwargs) -> subprocess.CompletedProcess:
    """Run `kzoo ...` in a fresh process with this worktree's code."""
    return subprocess.run(
        [sys.executable, "-m", "kzoo.cli", *argv],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        **kwargs,
    )


def subprocess_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def error_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's start-up chatter (absl / oneDNN notices)."""
    noise = ("WARNING: All log messages", "I0000 ", "W0000 ", "E0000 ", "To enable the following")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


# `kzoo train` that stops after the history of epoch PAUSE_EPOCH (1-based) is written -- before that
# epoch's checkpoint -- and waits while the file PAUSE_FILE exists (PAUSED_FILE marks the wait).
# Training is unchanged: the pause only gives a test the moment to break something.
PAUSED_KZOO = """
import os, sys, time
from kzoo.training import callbacks
original = callbacks.HistoryWriter.on_epoch_end
def paused(self, epoch, logs=None):
    original(self, epoch, logs)
    if epoch + 1 == int(os.environ["PAUSE_EPOCH"]):
        open(os.environ["PAUSED_FILE"], "w").close()
        while os.path.exists(os.environ["PAUSE_FILE"]):
            time.sleep(0.05)
callbacks.HistoryWriter.on_epoch_end = paused
from kzoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def paused_kzoo(tmp_path, argv, epoch: int):
    """Start `kzoo argv` paused at `epoch` (see PAUSED_KZOO); returns (process, release)."""
    pause, paused = tmp_path / "pause", tmp_path / "paused"
    pause.write_text("")
    paused.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED_KZOO, *argv],
        env={**subprocess_env(), "PAUSE_FILE": str(pause), "PAUSED_FILE": str(paused),
             "PAUSE_EPOCH": str(epoch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not paused.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            out, err = process.communicate()
            raise AssertionError(f"kzoo ended before the pause (rc {process.returncode}): {err}")
        time.sleep(0.05)
    return process, lambda: pause.unlink()


# A run long enough to be signalled in the middle of an epoch (most of its time is in TF steps).
LONGER = ["--epochs", "6", "--max-steps-per-epoch", "40"]


@pytest.fixture(scope="session")
def longer_reference(tmp_path_factory):
    """Final weights of `kzoo train` with LONGER, uninterrupted."""
    run = tmp_path_factory.mktemp("longer") / "run"
    done = kzoo_command(*cli_argv(run, *LONGER), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return saved_weights(run)


def metadata(run_dir, name="training_metadata.json") -> dict:
    return json.loads((Path(run_dir) / "checkpoint" / name).read_text())
