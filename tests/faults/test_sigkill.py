"""kill -9 at random instants (seeded; the seed is printed), then the same command: the run ends
bit-identical to an uninterrupted one, with no partial file, the user's files and a canary outside
untouched. Set KZOO_FAULT_SEED to replay a sequence."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import (
    LONGER,
    assert_weights_equal,
    cli_argv,
    kzoo_command,
    saved_weights,
    subprocess_env,
    user_file,
)

KILLS = 5


def _holder_pid(run: Path):
    try:
        return json.loads((run / ".kzoo.lock.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def _mtime(path: Path):
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _kill_at_random(run: Path, rng: random.Random) -> str:
    """Start `kzoo train`, kill -9 it at a random instant of its training; say where."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kzoo.cli", *cli_argv(run, *LONGER)],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while _holder_pid(run) != process.pid:  # it holds the run directory: training starts
        if process.poll() is not None or time.monotonic() > deadline:
            return f"ended before training (rc {process.poll()})"
        time.sleep(0.01)
    metadata = run / "checkpoint" / "training_metadata.json"
    mode = rng.choice(["after a delay", "just after a save", "during a save"])
    if mode == "after a delay":
        time.sleep(rng.uniform(0.0, 6.0))
    elif mode == "just after a save":
        for _ in range(rng.randint(1, 3)):
            seen = _mtime(metadata)
            while _mtime(metadata) == seen and process.poll() is None:
                time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.05))
    else:  # while this process writes a checkpoint's temporary file (after 0-2 saves)
        for _ in range(rng.randint(0, 2)):
            seen = _mtime(metadata)
            while _mtime(metadata) == seen and process.poll() is None:
                time.sleep(0.001)
        prefix = f".tmp-{process.pid}-"
        while process.poll() is None and not any(
            p.name.startswith(prefix) for p in (run / "checkpoint").glob(".*")
        ):
            time.sleep(0.0005)
    if process.poll() is not None:
        return f"{mode}: finished before the kill"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    try:
        epoch = json.loads(metadata.read_text())["epoch"]
    except (OSError, ValueError):
        epoch = "none"
    return f"{mode}: killed, checkpoint epoch {epoch}"


@pytest.mark.slow
def test_random_kill_9s_then_the_same_command_equal_an_uninterrupted_run(
    tmp_path, longer_reference, canary
):
    seed = int(os.environ.get("KZOO_FAULT_SEED", random.SystemRandom().randrange(2**32)))
    print(f"KZOO_FAULT_SEED={seed}")
    rng = random.Random(seed)
    run = tmp_path / "run"
    log = []
    for _ in range(KILLS):
        log.append(_kill_at_random(run, rng))
        if run.is_dir() and not (run / "my_notes.txt").exists() and (run / "config.json").exists():
            user_file(run)
    print("\n".join(log))
    done = kzoo_command(*cli_argv(run, *LONGER), timeout=600)
    context = f"KZOO_FAULT_SEED={seed}: {log}"
    assert done.returncode == 0, f"{context}\n{done.stderr[-3000:]}"
    assert_weights_equal(saved_weights(run), longer_reference)
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, 7)), context
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 6
    hidden = sorted(p.name for p in run.rglob(".*"))
    assert set(hidden) <= {".kzoo.lock", ".kzoo.lock.json"}, (context, hidden)
    assert not list(run.rglob("*.tmp")), context
    assert (run / "my_notes.txt").read_text() == "the user's own notes\n", context
    canary.assert_untouched()


def _record_every_state(run: Path, monkeypatch) -> list[dict]:
    """The run directory's files before every file operation: what a kill there leaves."""
    states = []

    def snapshot():
        if run.is_dir():
            states.append({
                p.relative_to(run): p.read_bytes()
                for p in run.rglob("*") if p.is_file() and not p.is_symlink()
            })

    def wrap(module, name):
        original = getattr(module, name)

        def operation(*args, **kwargs):
            snapshot()
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, operation)

    for name in ("replace", "rename", "link", "unlink", "remove", "rmdir", "fsync"):
        wrap(os, name)
    return states


def _restore(state: dict, folder: Path) -> None:
    folder.mkdir(parents=True)
    for relative, data in state.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)


@pytest.mark.slow
def test_a_kill_before_any_file_operation_of_a_run_then_the_same_command_ends_exactly(
    tmp_path, reference, monkeypatch
):
    from kzoo.training import train

    from .conftest import quick, unfinished_copy

    # Record an --overwrite run (removing another config's files, then training 2 epochs) ...
    run = unfinished_copy(reference, tmp_path / "run")
    user_file(run)
    states = _record_every_state(run, monkeypatch)
    other = dict(learning_rate=0.1, epochs=2, overwrite=True)
    expected = train(quick(run, **other)).model.get_weights()
    monkeypatch.undo()
    unique = list({tuple(sorted(s.items())): s for s in states}.values())
    print(f"{len(states)} file operations, {len(unique)} distinct states")
    assert len(unique) > 20
    # ... then, from each state a kill could leave, the same command again.
    for index, state in enumerate(unique):
        folder = tmp_path / f"killed-{index}"
        _restore(state, folder)
        result = train(quick(folder, **other))
        where = f"state {index}: {sorted(str(p) for p in state)}"
        assert_weights_equal(result.model.get_weights(), expected)
        assert [r["epoch"] for r in result.history] == [1, 2], where
        hidden = {p.name for p in folder.rglob(".*")}
        assert hidden <= {".kzoo.lock", ".kzoo.lock.json"}, (where, hidden)
        assert (folder / "my_notes.txt").read_text() == "the user's own notes\n", where
