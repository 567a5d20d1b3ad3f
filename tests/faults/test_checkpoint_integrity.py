"""Resume is exact or refused: damaged checkpoints, and a kill at every step of a checkpoint save."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from kzoo.training import checkpoint as ckpt
from kzoo.training import train
from kzoo.training.checkpoint import CheckpointError, find_checkpoint, save_checkpoint

from .conftest import (
    FINISHED_ONLY,
    assert_weights_equal,
    metadata,
    quick,
    unfinished_copy,
    user_file,
)

LATEST = "latest.weights.h5"
METADATA = "training_metadata.json"


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_bit(path):
    # A byte in the middle of the file: the weight values, not the HDF5 header (Keras would
    # load a flipped value without noticing).
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGES = [_truncate, _flip_a_bit, os.unlink]
DAMAGE_IDS = ["truncated", "bit-flipped", "missing"]


@pytest.mark.parametrize("damage", DAMAGES, ids=DAMAGE_IDS)
def test_a_damaged_latest_weights_file_is_passed_over_for_the_previous_checkpoint(
    tmp_path, reference, damage
):
    directory = unfinished_copy(reference, tmp_path / "run") / "checkpoint"
    assert find_checkpoint(directory).is_latest and find_checkpoint(directory).epoch == 3
    damage(directory / LATEST)
    found = find_checkpoint(directory)
    assert (found.epoch, found.weights.name) == (2, f"{LATEST}.bkp")
    assert f"{LATEST}'" in found.problem


@pytest.mark.parametrize(
    "damage",
    [DAMAGES[0], *(pytest.param(d, marks=pytest.mark.slow) for d in DAMAGES[1:])],
    ids=DAMAGE_IDS,
)
def test_a_damaged_latest_checkpoint_resumes_from_the_previous_epoch_exactly(
    tmp_path, reference, canary, capfd, damage
):
    # The reference killed after its last checkpoint (epoch 3; the .bkp pair is epoch 2), then
    # the latest weights damaged: the resume must retrain epoch 3 from epoch 2's state, with
    # epoch 3's data, and end where the uninterrupted run ended.
    run = unfinished_copy(reference, tmp_path / "run")
    notes = user_file(run)
    assert metadata(run)["epoch"] == 3 and metadata(run, "training_metadata.json.bkp")["epoch"] == 2
    damage(run / "checkpoint" / LATEST)
    result = train(quick(run))
    err = capfd.readouterr().err
    assert f"{LATEST}'" in err and "resuming from the checkpoint of epoch 2" in err
    assert_weights_equal(result.model.get_weights(), reference["weights"])
    # Epoch 3 was trained again on its own batches (the bug: zero batches and a logged loss of 0).
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.history[-1]["loss"] == reference["history"][-1]["loss"] > 0
    assert result.metrics["epochs_run"] == 3
    assert metadata(run)["epoch"] == 3 and find_checkpoint(run / "checkpoint").is_latest
    assert notes.read_text() == "the user's own notes\n"
    canary.assert_untouched()


def test_no_matching_checkpoint_is_refused_naming_the_file_before_anything_is_written(
    tmp_path, reference
):
    run = unfinished_copy(reference, tmp_path / "run")
    _truncate(run / "checkpoint" / LATEST)
    _flip_a_bit(run / "checkpoint" / f"{LATEST}.bkp")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match=r"latest\.weights\.h5' does not match the sha256"):
        train(quick(run))
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name[0] != "."} == {
        p: b for p, b in before.items() if p.name[0] != "."
    }


def test_damaged_metadata_falls_back_and_a_checkpoint_without_checksum_is_refused(
    tmp_path, reference
):
    directory = unfinished_copy(reference, tmp_path / "run") / "checkpoint"
    (directory / "training_metadata.json").write_text('{"epoch": 3, "batc')
    found = find_checkpoint(directory)
    assert (found.epoch, found.weights.name) == (2, f"{LATEST}.bkp")
    assert "not valid JSON" in found.problem
    # Metadata as kzoo wrote it before checksums: nothing can vouch for the weights.
    legacy = {"epoch": 3, "batch": 0, "iterations": 6, "seed_states": []}
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        (directory / name).write_text(json.dumps(legacy))
    with pytest.raises(CheckpointError, match="records no checksum"):
        find_checkpoint(directory)


def _tiny_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    model.fit(np.ones((8, 3), "float32"), np.zeros((8, 2), "float32"), batch_size=4, verbose=0)
    return model


class _Killed(BaseException):
    pass


def _file_operations():
    return [
        (os, "replace"),
        (os, "link"),
        (os, "unlink"),
        (os, "fsync"),
        (shutil, "copy2"),
    ]


def _record_states(directory, monkeypatch):
    """Copy the checkpoint directory before every file operation: what a kill there leaves."""
    states = []

    def wrap(module, name):
        original = getattr(module, name)

        def operation(*args, **kwargs):
            snapshot = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
            states.append((f"before {name}{tuple(str(a) for a in args)}", snapshot))
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, operation)

    for module, name in _file_operations():
        wrap(module, name)
    return states


def test_a_kill_at_any_step_of_a_save_leaves_the_old_or_the_new_checkpoint(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoint"
    model = _tiny_model(0)
    first = save_checkpoint(directory, model, {"epoch": 1, "iterations": 2, "seed_states": []})
    old_weights = model.get_weights()
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 2), "float32"), batch_size=4, verbose=0)
    new_weights = model.get_weights()
    states = _record_states(directory, monkeypatch)
    second = save_checkpoint(directory, model, {"epoch": 2, "iterations": 4, "seed_states": []})
    monkeypatch.undo()
    states.append(("after the save", {p.name: p.read_bytes() for p in directory.iterdir()}))
    assert len(states) >= 6 and first["weights_sha256"] != second["weights_sha256"]
    restored = _tiny_model(1)
    for where, files in states:
        crashed = tmp_path / "crashed"
        shutil.rmtree(crashed, ignore_errors=True)
        crashed.mkdir()
        for name, data in files.items():
            (crashed / name).write_bytes(data)
        found = find_checkpoint(crashed)
        assert found is not None, where
        reader = ckpt_callback(crashed, found)
        reader.set_model(restored)
        reader.on_train_begin()
        expected = {1: old_weights, 2: new_weights}[found.epoch]
        assert_weights_equal(restored.get_weights(), expected)
        # The directory repaired by the restore is a sound base for the next save.
        assert find_checkpoint(crashed).is_latest, where
        assert not [p for p in crashed.iterdir() if p.name.startswith(".")], where
        save_checkpoint(crashed, restored, {"epoch": 3, "iterations": 4, "seed_states": []})
        assert find_checkpoint(crashed).epoch == 3, where
        names = sorted(p.name for p in crashed.iterdir())
        assert names == sorted([LATEST, f"{LATEST}.bkp", METADATA, f"{METADATA}.bkp"]), where


def ckpt_callback(directory, found):
    from kzoo.training.callbacks import AtomicBackupAndRestore

    return AtomicBackupAndRestore(str(directory), checkpoint=found)


def test_a_save_refuses_to_write_through_a_linked_checkpoint_folder(tmp_path, canary):
    (tmp_path / "checkpoint").symlink_to(canary.folder, target_is_directory=True)
    with pytest.raises(ValueError, match="symbolic link"):
        save_checkpoint(tmp_path / "checkpoint", _tiny_model(0), {"epoch": 1, "iterations": 2})
    canary.assert_untouched()


def test_resume_point_is_read_with_the_checksum_of_the_file_not_through_a_link(tmp_path, canary):
    model = _tiny_model(0)
    save_checkpoint(tmp_path, model, {"epoch": 1, "iterations": 2, "seed_states": []})
    # The weights replaced by a link to an identical copy outside: not read through the link.
    shutil.copy(tmp_path / LATEST, canary.folder / "copy.weights.h5")
    canary.snapshot = canary._state()
    (tmp_path / LATEST).unlink()
    (tmp_path / LATEST).symlink_to(canary.folder / "copy.weights.h5")
    with pytest.raises(CheckpointError, match="is a symbolic link"):
        find_checkpoint(tmp_path)
    assert ckpt.sha256_of(canary.folder / "copy.weights.h5")  # the copy itself is fine
    canary.assert_untouched()


def test_the_best_weights_of_early_stopping_carry_a_checksum_too(tmp_path):
    run = tmp_path / "run"
    config = quick(run, early_stopping_patience=5, epochs=1)
    train(config)
    best = run / "best.weights.h5"
    assert metadata(run)["best_weights_sha256"] == ckpt.sha256_of(best)  # checked at the end
    for name in FINISHED_ONLY:
        (run / name).unlink()
    _flip_a_bit(best)
    with pytest.raises(CheckpointError, match=r"best\.weights\.h5' does not match the sha256"):
        train(config)
    assert not (run / "metrics.json").exists()
