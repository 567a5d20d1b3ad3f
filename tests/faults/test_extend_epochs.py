"""More --epochs than a finished run's: the continued run ends with the weights of an uninterrupted
run of the new length, bit for bit, for every schedule that allows it -- also when the extension is
killed at any file operation and the same command is run again. Cosine is refused in one line."""

import json
import shutil

import pytest

from .conftest import QUICK_ARGV, assert_weights_equal, quick, saved_weights, user_file
from .test_sigkill import _record_every_state, _restore

SCHEDULES = {
    "constant": {},
    "constant with warm-up": {"warmup_epochs": 1.5},
    "inverse_sqrt": {"schedule": "inverse_sqrt"},
    "multistep": {"schedule": "multistep", "milestones": (2,)},
}


def _check_extended(result, run, expected, epochs=5):
    assert_weights_equal(result.model.get_weights(), expected)
    assert_weights_equal(saved_weights(run), expected)
    assert [r["epoch"] for r in result.history] == list(range(1, epochs + 1))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == metrics["epochs_planned"] == epochs
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["epochs"] == epochs and saved["extended_from"] == [3]


@pytest.mark.slow
@pytest.mark.parametrize("settings", list(SCHEDULES.values()), ids=list(SCHEDULES))
def test_a_finished_run_continued_equals_an_uninterrupted_longer_run(tmp_path, settings):
    from kzoo.training import train

    expected = train(quick(tmp_path / "uninterrupted", epochs=5, **settings)).model.get_weights()
    run = tmp_path / "run"
    first = train(quick(run, **settings))
    assert first.metrics["epochs_run"] == 3
    user_file(run)
    _check_extended(train(quick(run, epochs=5, **settings)), run, expected)
    assert (run / "my_notes.txt").read_text() == "the user's own notes\n"
    # The extended run is now the run of that directory: the same command loads it.
    again = train(quick(run, epochs=5, **settings))
    assert again.metrics == json.loads((run / "metrics.json").read_text())


@pytest.mark.slow
def test_a_kill_at_any_file_operation_of_an_extension_then_the_same_command_ends_exactly(
    tmp_path, reference, monkeypatch
):
    from kzoo.training import train

    expected = train(quick(tmp_path / "uninterrupted", epochs=5)).model.get_weights()
    run = tmp_path / "run"
    shutil.copytree(reference["dir"], run, symlinks=True)
    user_file(run)
    states = _record_every_state(run, monkeypatch)
    train(quick(run, epochs=5))
    monkeypatch.undo()
    unique = list({tuple(sorted(s.items())): s for s in states}.values())
    print(f"{len(states)} file operations, {len(unique)} distinct states")
    assert len(unique) > 10
    for index, state in enumerate(unique):
        folder = tmp_path / f"killed-{index}"
        _restore(state, folder)
        result = train(quick(folder, epochs=5))
        where = f"state {index}: {sorted(str(p) for p in state)}"
        assert_weights_equal(result.model.get_weights(), expected)
        assert [r["epoch"] for r in result.history] == [1, 2, 3, 4, 5], where
        hidden = {p.name for p in folder.rglob(".*")}
        assert hidden <= {".kzoo.lock", ".kzoo.lock.json"}, (where, hidden)
        assert (folder / "my_notes.txt").read_text() == "the user's own notes\n", where


@pytest.mark.slow
def test_kzoo_train_continues_and_refuses_cosine_in_one_line(tmp_path, reference, capsys):
    from kzoo.cli import main
    from kzoo.training import train

    expected = train(quick(tmp_path / "uninterrupted", epochs=5)).model.get_weights()
    run = tmp_path / "run"
    shutil.copytree(reference["dir"], run, symlinks=True)
    argv = [*QUICK_ARGV, "--run-dir", str(run)]
    argv[argv.index("--epochs") + 1] = "5"
    assert main(argv) == 0
    assert_weights_equal(saved_weights(run), expected)

    cosine = tmp_path / "cosine"
    train(quick(cosine, schedule="cosine"))
    before = {p.name: p.read_bytes() for p in cosine.iterdir() if p.is_file()}
    argv = [*QUICK_ARGV, "--run-dir", str(cosine)]
    argv[argv.index("--schedule") + 1] = "cosine"
    argv[argv.index("--epochs") + 1] = "5"
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kzoo train: error: --run-dir '")
    assert "holds a run of 3 epochs that --epochs 5 cannot continue: its cosine " \
           "schedule decays over the planned 3 epochs" in err
    assert err.endswith("Use another --run-dir, or pass --overwrite to start it afresh.")
    assert {p.name: p.read_bytes() for p in cosine.iterdir() if p.is_file()} == before
