"""More --epochs than a run directory's: continued when the schedule allows, else refused saying why
(README: "Training and recipes"). Only the decision and the run directory's files here; that the
continued run equals an uninterrupted one is tests/faults/test_extend_epochs.py."""

import json

import pytest

from kzoo.training import TrainConfig, rundir
from kzoo.utils.errors import UserError


def _config(run_dir, **kw):
    base = dict(model="plain_mlp", dataset="digits", run_dir=str(run_dir), epochs=3,
                optimizer="momentum", learning_rate=0.05, verbose=0)
    return TrainConfig(**{**base, **kw})


def _finished(run_dir, **kw):
    """A run directory as a finished run of `_config(**kw)` leaves it (the files the decision and
    the preparation read or remove)."""
    config = _config(run_dir, **kw)
    rundir.prepare_run_dir(config, rundir.check_run_dir(config))
    (run_dir / "metrics.json").write_text(json.dumps({"fingerprint": config.fingerprint()}))
    (run_dir / "model.keras").write_bytes(b"the 3-epoch model")
    (run_dir / "history.json").write_text("[]")
    (run_dir / "my_notes.txt").write_text("mine")
    assert rundir.check_run_dir(config) == "finished"
    return config


@pytest.mark.parametrize("schedule", [
    {"schedule": "constant"},
    {"schedule": "constant", "warmup_epochs": 1.5},
    {"schedule": "inverse_sqrt"},
    {"schedule": "multistep", "milestones": (1, 2)},
])
def test_schedules_that_do_not_depend_on_the_epochs_continue(tmp_path, schedule):
    _finished(tmp_path / "run", **schedule)
    assert rundir.check_run_dir(_config(tmp_path / "run", epochs=5, **schedule)) == "extend"
    # with --overwrite too: continuing gives the same weights as starting afresh, and keeps the work
    longer = _config(tmp_path / "run", epochs=5, overwrite=True, **schedule)
    assert rundir.check_run_dir(longer) == "extend"


def test_cosine_is_refused_saying_why_unless_overwrite(tmp_path):
    _finished(tmp_path / "run", schedule="cosine")
    with pytest.raises(UserError) as caught:
        rundir.check_run_dir(_config(tmp_path / "run", epochs=5, schedule="cosine"))
    assert str(caught.value) == (
        f"run_dir {str(tmp_path / 'run')!r} holds a run of 3 epochs that epochs 5 "
        "cannot continue: its cosine schedule decays over the planned 3 epochs, so continuing to 5 "
        "would change the learning rate of the epochs already run (extendable: constant, "
        "inverse_sqrt, multistep). Use another run_dir, or pass overwrite to start it afresh."
    )
    # On the command line the same message names the flags (tests/faults/test_extend_epochs.py).
    assert caught.value.render({"run_dir": "--run-dir", "epochs": "--epochs",
                                "overwrite": "--overwrite"}).endswith(
        "Use another --run-dir, or pass --overwrite to start it afresh.")
    longer = _config(tmp_path / "run", epochs=5, schedule="cosine", overwrite=True)
    assert rundir.check_run_dir(longer) == "overwrite"


def test_swa_whose_window_moves_is_refused(tmp_path):
    """SWA averages from --swa-start of the planned epochs: a 4-epoch run continued to 8 averaged
    epochs 4-8 where a run of 8 averages 7-8, and ended with other weights, silently. When the
    window's first epoch stays (--swa-start 0), it continues."""
    swa = dict(schedule="constant", weight_averaging="swa", epochs=4)
    _finished(tmp_path / "run", **swa)
    with pytest.raises(UserError, match=r"averages from --swa-start 0.75 of the planned epochs "
                                        r"\(from epoch 4 of 4; of 8: from epoch 7\)"):
        rundir.check_run_dir(_config(tmp_path / "run", **{**swa, "epochs": 8}))
    _finished(tmp_path / "zero", **swa, swa_start=0.0)
    assert rundir.check_run_dir(_config(tmp_path / "zero", **{**swa, "epochs": 8},
                                        swa_start=0.0)) == "extend"


def test_fewer_epochs_moved_milestones_or_other_changes_are_refused(tmp_path):
    _finished(tmp_path / "run", schedule="multistep", milestones=(1, 2))
    run = tmp_path / "run"
    with pytest.raises(UserError, match=r"epochs can grow, not shrink \(it has 3, epochs=2"):
        rundir.check_run_dir(_config(run, epochs=2, schedule="multistep", milestones=(1,)))
    # a recipe's default milestones follow --epochs: 1, 2 of 3 become 2, 4 of 6
    with pytest.raises(UserError, match=r"milestones would move from \(1, 2\) to \(2, 4\).*"
                                        r"--milestones 1 2"):
        rundir.check_run_dir(_config(run, epochs=6, schedule="multistep", milestones=(2, 4)))
    with pytest.raises(ValueError, match=r"different config \(epochs: 3 -> 5; learning_rate"):
        rundir.check_run_dir(_config(run, epochs=5, schedule="multistep", milestones=(1, 2),
                                     learning_rate=0.1))


def test_preparing_an_extension_unmarks_the_finished_run_then_rewrites_its_config(tmp_path):
    run = tmp_path / "run"
    old = _finished(run)
    longer = _config(run, epochs=5)
    rundir.prepare_run_dir(longer, "extend")
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["epochs"] == 5 and saved["fingerprint"] == longer.fingerprint()
    assert saved["extended_from"] == [3] and saved["replicas"] == 1
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()
    assert (run / "history.json").exists() and (run / "my_notes.txt").read_text() == "mine"
    assert rundir.check_run_dir(longer) == "resume"  # the extended run resumes like any other
    with pytest.raises(UserError, match="can grow, not shrink"):
        rundir.check_run_dir(old)


def test_a_kill_between_unmarking_and_the_new_config_leaves_a_run_both_commands_accept(
    tmp_path, monkeypatch
):
    run = tmp_path / "run"
    old = _finished(run)

    def killed(path, data):
        raise KeyboardInterrupt("killed before the new config.json")

    monkeypatch.setattr(rundir, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        rundir.prepare_run_dir(_config(run, epochs=5), "extend")
    monkeypatch.undo()
    assert not (run / "metrics.json").exists()
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 3
    assert rundir.check_run_dir(old) == "resume"  # the old command finishes the old run again
    assert rundir.check_run_dir(_config(run, epochs=5)) == "extend"  # the new one extends it
