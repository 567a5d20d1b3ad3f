"""Shared pieces of the hostile-input suite: a genuine tiny model and export to tamper with, the
case runner (Python API, in-process CLI, real subprocess CLI) and guards that keep a case that is
*not* refused from hanging the run or filling the disk."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import kzoo
from kzoo.export import export_saved_model, save_keras

from .crafting import read_parts

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["cat", "dog", "owl"]
MEAN, STD = 4.9, 6.0


def tiny_model():
    """kzoo's plain CNN cut down to 8x8x1 inputs, 3 classes, 1,583 parameters."""
    return kzoo.create_model("plain_cnn", input_shape=(8, 8, 1), classes=3, depth=3, width=4)


@dataclass
class Case:
    """One attack: the command line that must be refused, the Python call that must raise, what
    the message must say, and the checks (canaries, user files) that must hold afterwards."""

    argv: list[str]
    api: Callable[[], object] | None
    match: str
    error: type = ValueError
    check: Callable[[], None] = field(default=lambda: None)
    exit: int = 2  # 1: reported as a problem on stdout (kzoo info's checksum line)
    fsize: int | None = None  # a file-size limit for the attempt (for cases that would copy forever)
    # For a case the API reports rather than refuses: checks what `api()` returned.
    api_returns: Callable[[object], None] | None = None
    # Wrapped around each in-process attempt, e.g. a patch proving a decoder is never reached.
    guard: Callable[[], contextlib.AbstractContextManager] = field(default=contextlib.nullcontext)


@contextlib.contextmanager
def deadline(seconds: int, what: str = "the attempt"):
    """Raise TimeoutError if the block runs longer (a read of a FIFO would block forever)."""

    def expire(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s (it blocked)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def file_size_limit(limit: int | None):
    """Writes past `limit` bytes fail with EFBIG instead of filling the disk."""
    if limit is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def run_api(case: Case) -> None:
    with deadline(120), file_size_limit(case.fsize), case.guard():
        if case.api_returns is not None:
            case.api_returns(case.api())
        else:
            with pytest.raises(case.error, match=case.match):
                case.api()
    case.check()


def run_cli_in_process(case: Case, capsys) -> None:
    from kzoo.cli import main

    capsys.readouterr()
    with deadline(120), file_size_limit(case.fsize), case.guard():
        rc = main(case.argv)
    captured = capsys.readouterr()
    assert_refused(rc, captured.out, captured.err, case)
    case.check()


def run_cli_subprocess(case: Case) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}

    def limit():
        if case.fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))

    result = subprocess.run(
        [sys.executable, "-m", "kzoo.cli", *case.argv], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=120, preexec_fn=limit,
    )
    assert_refused(result.returncode, result.stdout, _without_tf_noise(result.stderr), case)
    case.check()


def _without_tf_noise(err: str) -> str:
    # TensorFlow's C++ start-up lines (absl, oneDNN, CUDA probing) are not kzoo's output.
    noise = re.compile(r"^(WARNING: All log messages|[WIE]\d{4} |To enable the following|I0000)")
    return "\n".join(line for line in err.splitlines() if not noise.match(line))


def assert_refused(rc: int, out: str, err: str, case: Case) -> None:
    command = case.argv[0]
    assert "Traceback" not in err, err
    assert rc == case.exit, f"exit status {rc}, expected {case.exit}; stderr:\n{err}"
    if case.exit == 2:
        first = err.strip().splitlines()[0] if err.strip() else ""
        assert first.startswith(f"kzoo {command}: error: "), err
        # One line, except a loader refusal that lists its offending entries under it.
        assert err.strip().count("\n") == 0 or "Offending entries" in first, err
        assert re.search(case.match, err), f"{case.match!r} not in:\n{err}"
    else:
        assert re.search(case.match, out), f"{case.match!r} not in:\n{out}"


@pytest.fixture(autouse=True)
def _seed_and_clear():
    """The suite-wide fixture without its garbage collection (0.6 s a test here, where most cases
    build nothing): Keras' graph state is still reset after each test."""
    import keras

    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def genuine(tmp_path_factory):
    """A genuine `.keras` file, its members and the model it holds."""
    folder = tmp_path_factory.mktemp("genuine")
    model = tiny_model()
    path = save_keras(model, folder / "tiny.keras")
    return types.SimpleNamespace(path=path, parts=read_parts(path), model=model)


@pytest.fixture(scope="session")
def published(genuine, tmp_path_factory):
    """One version exported with kzoo's exporter: `<root>/tiny/1`."""
    root = tmp_path_factory.mktemp("published") / "saved_models"
    version = export_saved_model(
        genuine.model, "tiny", root=root, raw_dtype="uint8", mean=[MEAN], std=[STD],
        class_names=CLASSES,
    )
    return version


@pytest.fixture
def version_copy(published, tmp_path):
    """A private copy of the published version (`<tmp>/models/tiny/1`) to tamper with."""
    target = tmp_path / "models" / "tiny" / "1"
    shutil.copytree(published, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def genuine_run(genuine, tmp_path_factory):
    """A finished run directory as kzoo.training leaves it, written with its own helpers."""
    from kzoo.training import TrainConfig, rundir
    from kzoo.utils.files import atomic_write_json

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    config = TrainConfig(
        model="plain_cnn", dataset="digits", run_dir=str(run_dir), epochs=1,
        model_kwargs={"depth": 3, "width": 4}, tensorboard=False, verbose=0,
    )
    rundir.prepare_run_dir(config, rundir.check_run_dir(config))
    atomic_write_json(run_dir / "normalization.json", {
        "dataset": "digits", "kind": "image", "input_shape": [8, 8, 1], "num_classes": 3,
        "class_names": ["cat", "dog", "owl"], "mean": [MEAN], "std": [STD], "raw_dtype": "uint8",
    })
    shutil.copyfile(genuine.path, run_dir / "model.keras")
    atomic_write_json(run_dir / "metrics.json", {
        "test_accuracy": 0.5, "test_loss": 1.0, "epochs_run": 1, "stopped_early": False,
        "fingerprint": config.fingerprint(), "dataset": "digits",
    })
    return run_dir


@pytest.fixture
def run_copy(genuine_run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(genuine_run, target)
    return target


_HOLD = textwrap.dedent(
    """
    import sys, time
    from kzoo.utils.locks import folder_lock
    with folder_lock(sys.argv[1], what="export"):
        print("held", flush=True)
        time.sleep(300)
    """
)


@pytest.fixture
def name_held_by_another_process(tmp_path):
    """`<root>/m` locked by a live exporter (another process holding kzoo's folder lock)."""
    model_dir = tmp_path / "root" / "m"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(model_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def outside(tmp_path):
    """A user's directory outside every root, with a file that must survive unchanged."""
    folder = tmp_path / "outside"
    (folder / "1").mkdir(parents=True)
    keep = folder / "1" / "user.txt"
    keep.write_text("the user's own file")
    return types.SimpleNamespace(folder=folder, keep=keep, listing=_listing(folder))


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_untouched(outside) -> None:
    assert outside.keep.read_text() == "the user's own file"
    assert _listing(outside.folder) == outside.listing


def digits_batch(n=4) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 17, size=(n, 8, 8, 1)).astype(np.uint8)
