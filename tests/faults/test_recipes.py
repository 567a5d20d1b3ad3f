"""The run-directory guarantees hold through a recipe (recipes call the same `train`)."""

import shutil
import subprocess
import sys

import pytest

from .conftest import (
    FINISHED_ONLY,
    ROOT,
    assert_weights_equal,
    saved_weights,
    subprocess_env,
    user_file,
)

QUICKSTART = [
    str(ROOT / "recipes" / "quickstart.py"), "--model", "plain_mlp", "--epochs", "3",
    "--max-steps-per-epoch", "2", "--verbose", "0", "--no-search", "--no-export",
]


def _quickstart(run):
    return subprocess.run(
        [sys.executable, *QUICKSTART, "--run-dir", str(run)],
        env=subprocess_env(), capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
def test_quickstart_resumes_exactly_past_a_truncated_checkpoint_and_refuses_a_link(
    tmp_path, canary
):
    whole = tmp_path / "whole"
    done = _quickstart(whole)
    assert done.returncode == 0, done.stderr[-3000:]

    damaged = tmp_path / "damaged"
    shutil.copytree(whole, damaged)
    for name in FINISHED_ONLY:
        (damaged / name).unlink()
    notes = user_file(damaged)
    latest = damaged / "checkpoint" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[:1000])
    resumed = _quickstart(damaged)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint of epoch 2" in resumed.stderr
    assert_weights_equal(saved_weights(damaged), saved_weights(whole))
    assert notes.read_text() == "the user's own notes\n"

    linked = tmp_path / "linked"
    shutil.copytree(whole, linked)
    (linked / "metrics.json").unlink()
    shutil.move(linked / "checkpoint", canary.folder / "checkpoint")
    canary.snapshot = canary._state()
    (linked / "checkpoint").symlink_to(canary.folder / "checkpoint", target_is_directory=True)
    refused = _quickstart(linked)
    assert refused.returncode != 0
    assert f"'{linked / 'checkpoint'}' is a symbolic link" in refused.stderr
    assert not (linked / "metrics.json").exists()
    canary.assert_untouched()
