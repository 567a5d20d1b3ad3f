"""Ctrl-C and SIGTERM during training end in one line that says after which epoch and how to
resume, exit status 130, no traceback; the same command then resumes to the uninterrupted run."""

import json
import signal
import subprocess
import sys
import time

import pytest

import kzoo.data
from kzoo.cli import main
from kzoo.training import callbacks, train
from kzoo.training.engine import TrainingInterrupted
from tests.helpers import answer_ctrl_c

from .conftest import (
    LONGER,
    assert_weights_equal,
    cli_argv,
    error_lines,
    kzoo_command,
    quick,
    saved_weights,
    subprocess_env,
)


def test_an_interrupt_during_training_is_one_line_with_exit_130(tmp_path, monkeypatch, capsys):
    original = callbacks.HistoryWriter.on_epoch_end

    def interrupt_in_epoch_2(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:  # after epoch 2's history, before its checkpoint: 1 epoch is saved
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.HistoryWriter, "on_epoch_end", interrupt_in_epoch_2)
    run = tmp_path / "run"
    assert main(cli_argv(run)) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["kzoo train: interrupted after epoch 1 of 3; rerun the same command to resume"]
    assert json.loads((run / "checkpoint" / "training_metadata.json").read_text())["epoch"] == 1
    # The Python API raises it as a KeyboardInterrupt carrying the same message, here for a Ctrl-C
    # while the resumed run loads its data.
    monkeypatch.setattr(kzoo.data, "load", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(TrainingInterrupted, match=r"^interrupted after epoch 1 of 3; rerun") as info:
        train(quick(run))
    assert isinstance(info.value, KeyboardInterrupt)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_kzoo_train_stopped_by_a_signal_says_where_and_resumes(
    tmp_path, longer_reference, canary, sig
):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "kzoo.cli", *cli_argv(run, *LONGER)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=answer_ctrl_c,
    )
    metadata = run / "checkpoint" / "training_metadata.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads(metadata.read_text())["epoch"] >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be signalled"
    process.send_signal(sig)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err[-3000:]
    lines = error_lines(err)
    saved = json.loads(metadata.read_text())["epoch"]
    assert 2 <= saved < 6
    assert lines == [
        f"kzoo train: interrupted after epoch {saved} of 6; rerun the same command to resume"
    ], err[-3000:]
    assert "Traceback" not in err
    again = kzoo_command(*cli_argv(run, *LONGER), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_weights_equal(saved_weights(run), longer_reference)
    canary.assert_untouched()
