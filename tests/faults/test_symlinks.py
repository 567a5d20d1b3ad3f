"""No path leaves its folder: links inside a run directory are refused by name, never followed;
--overwrite removes links, never their targets; a run_dir that is itself a link is followed."""

import os
import shutil

import pytest

from kzoo.cli import main
from kzoo.training import train
from kzoo.training.callbacks import write_history
from kzoo.utils.errors import UserError

from .conftest import (
    assert_weights_equal,
    cli_argv,
    quick,
    unfinished_copy,
    user_file,
)

# (entry in the run directory, is a folder, only a finished run has it)
ENTRIES = [
    ("checkpoint", True, False),
    ("logs", True, False),
    ("config.json", False, False),
    ("history.json", False, False),
    ("history.csv", False, False),
    ("normalization.json", False, False),
    ("best.weights.h5", False, False),
    ("checkpoint/latest.weights.h5", False, False),
    ("checkpoint/training_metadata.json", False, False),
    ("logs/train", True, False),
    ("metrics.json", False, True),
    ("model.keras", False, True),
    ("curves.png", False, True),
]


def _link_out(run, entry, is_folder, canary):
    """Replace `entry` by a link into the canary folder holding a copy of what it replaces."""
    path = run / entry
    target = canary.folder / entry.replace("/", "_")
    if is_folder:
        if path.is_dir():
            shutil.copytree(path, target)
            shutil.rmtree(path)
        else:
            target.mkdir()
    else:
        if path.exists():
            shutil.copy(path, target)
            path.unlink()
        else:
            target.write_text("outside")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target, target_is_directory=is_folder)
    canary.snapshot = canary._state()
    return path


@pytest.mark.parametrize("entry, is_folder, finished", ENTRIES, ids=[e[0] for e in ENTRIES])
def test_a_link_inside_the_run_directory_is_refused_by_name(
    tmp_path, reference, canary, entry, is_folder, finished
):
    run = tmp_path / "run"
    if finished:
        shutil.copytree(reference["dir"], run, symlinks=True)
    else:
        unfinished_copy(reference, run)
    (run / "logs" / "train").mkdir(parents=True, exist_ok=True)
    notes = user_file(run)
    link = _link_out(run, entry, is_folder, canary)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and not p.is_symlink()}
    with pytest.raises(UserError, match="is a symbolic link") as refused:
        train(quick(run))
    assert f"{str(link)!r}" in str(refused.value) and "\n" not in str(refused.value)
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and not p.is_symlink()}
    assert after == before and link.is_symlink()
    assert notes.read_text() == "the user's own notes\n"
    canary.assert_untouched()


def test_the_command_line_refuses_a_linked_checkpoint_in_one_line(
    tmp_path, reference, canary, capsys
):
    run = unfinished_copy(reference, tmp_path / "run")
    link = _link_out(run, "checkpoint", True, canary)
    assert main(cli_argv(run)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"kzoo train: error: {str(link)!r} is a symbolic link; kzoo reads and writes only the run "
        "directory's own files, never through a link: remove the link (or use another run_dir) "
        "and rerun"
    ]
    canary.assert_untouched()


def test_overwrite_removes_links_never_their_targets(tmp_path, reference, canary):
    run = unfinished_copy(reference, tmp_path / "run")
    notes = user_file(run)
    for entry, is_folder in (("checkpoint", True), ("metrics.json", False), ("logs", True)):
        _link_out(run, entry, is_folder, canary)
    (run / "history.json").unlink()
    (run / "history.json").mkdir()  # a real folder of kzoo's name holding a link out
    (run / "history.json" / "escape").symlink_to(canary.folder, target_is_directory=True)
    canary.snapshot = canary._state()
    result = train(quick(run, epochs=1, overwrite=True))
    assert result.metrics["epochs_run"] == 1
    for entry in ("checkpoint", "metrics.json", "history.json"):
        assert not (run / entry).is_symlink() and (run / entry).exists()
    assert (run / "history.json").is_file()
    assert notes.read_text() == "the user's own notes\n"
    canary.assert_untouched()


def test_a_run_dir_that_is_itself_a_link_is_followed(tmp_path, reference):
    target = unfinished_copy(reference, tmp_path / "elsewhere" / "run")
    os.symlink(target, tmp_path / "run", target_is_directory=True)
    result = train(quick(tmp_path / "run"))
    assert_weights_equal(result.model.get_weights(), reference["weights"])
    assert (target / "metrics.json").is_file() and (tmp_path / "run").is_symlink()


def test_history_written_over_a_link_replaces_the_link_not_its_target(tmp_path, canary):
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.json").symlink_to(canary.file)
    write_history(run, [{"epoch": 1, "loss": 1.0}])
    assert not (run / "history.json").is_symlink()
    assert (run / "history.csv").read_text() == "epoch,loss\n1,1.0\n"
    canary.assert_untouched()
