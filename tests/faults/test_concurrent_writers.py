"""One writer per run directory: a second `kzoo train` is refused naming the holder; a dead
holder's lock is taken over; the lock files are not run files."""

import json
import signal
import socket
import subprocess
import sys

import pytest

from kzoo.cli import main
from kzoo.training import rundir, train
from kzoo.utils.errors import UserError
from kzoo.utils.locks import HOLDER_FILE, LOCK_FILE, FolderBusyError, folder_lock

from .conftest import (
    assert_weights_equal,
    cli_argv,
    error_lines,
    paused_kzoo,
    quick,
    saved_weights,
    subprocess_env,
    unfinished_copy,
    user_file,
)

HOLD = """
import sys, time
from kzoo.utils.locks import folder_lock
with folder_lock(sys.argv[1], what="run directory"):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_lock(run_dir):
    """Another process holding the run directory's lock (a stand-in for a training process)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(
    tmp_path, reference, canary, capsys
):
    run = unfinished_copy(reference, tmp_path / "run")
    notes = user_file(run)
    holder = _hold_lock(run)
    try:
        before = {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()}
        with pytest.raises(FolderBusyError) as refused:
            train(quick(run))
        message = str(refused.value)
        assert f"process {holder.pid} on {socket.gethostname()}" in message
        assert str(run) in message and "\n" not in message
        # The command line says the same in one line, exit status 2.
        assert main(cli_argv(run)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kzoo train: error: run directory")
        assert f"process {holder.pid}" in err[0]
        assert {p.name: p.read_bytes() for p in (run / "checkpoint").iterdir()} == before
        assert not (run / "metrics.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # kill -9 released the lock with the process (flock): the next run takes it over.
    result = train(quick(run))
    assert_weights_equal(result.model.get_weights(), reference["weights"])
    assert (run / LOCK_FILE).exists() and not (run / HOLDER_FILE).exists()
    assert notes.read_text() == "the user's own notes\n"
    canary.assert_untouched()


def test_lock_files_are_not_run_files_and_survive_overwrite(tmp_path, reference):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).write_text("")
    (run / HOLDER_FILE).write_text("{}")
    (run / f".{HOLDER_FILE}.x1b2.tmp").write_text("{")  # killed while writing the holder
    assert rundir.check_run_dir(quick(run)) == "new"  # a folder holding only a lock is empty
    (run / ".my.tmp").write_text("the user's")  # not one of kzoo's temporary files
    with pytest.raises(ValueError, match="not a kzoo run directory"):
        rundir.check_run_dir(quick(run))

    finished = tmp_path / "finished"
    unfinished_copy(reference, finished)
    (finished / LOCK_FILE).write_text("")
    (finished / ".tmp-99-model.keras").write_text("partial")  # left by a killed run
    (finished / ".my.tmp").write_text("the user's")
    other = quick(finished, learning_rate=0.1, overwrite=True)
    assert rundir.check_run_dir(other) == "overwrite"
    rundir.prepare_run_dir(other, "overwrite")
    assert sorted(p.name for p in finished.iterdir()) == [LOCK_FILE, ".my.tmp", "config.json"]
    assert json.loads((finished / "config.json").read_text())["config"]["learning_rate"] == 0.1


@pytest.mark.slow
def test_two_kzoo_train_processes_on_one_run_directory(tmp_path, reference, canary):
    run = tmp_path / "run"
    first, release = paused_kzoo(tmp_path, cli_argv(run), epoch=1)  # a real `kzoo train`
    user_file(run)
    second = subprocess.run(
        [sys.executable, "-m", "kzoo.cli", *cli_argv(run)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    release()
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == 2, second.stderr[-3000:]
    lines = error_lines(second.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("kzoo train: error: run directory") and f"process {first.pid} on" in lines[0]
    assert_weights_equal(saved_weights(run), reference["weights"])
    assert (run / "my_notes.txt").read_text() == "the user's own notes\n"
    canary.assert_untouched()


@pytest.mark.parametrize("name", [".kzoo.lock", ".kzoo.lock.json"])
def test_a_lock_file_that_is_a_link_is_refused_in_one_line_and_its_target_kept(tmp_path, name):
    outside = tmp_path / "precious.txt"
    outside.write_text("precious")
    folder = tmp_path / "search"
    folder.mkdir()
    (folder / name).symlink_to(outside)
    with pytest.raises(UserError, match=r"\.kzoo\.lock(\.json)?' is a symbolic link"):
        with folder_lock(folder, what="search folder"):
            pass
    assert outside.read_text() == "precious"
