"""The resume point of a run: weights + optimiser state after an epoch, verified by checksum.

A checkpoint directory (`run_dir/checkpoint`) holds two pairs:

    latest.weights.h5           weights and optimiser state after the last finished epoch
    training_metadata.json      its epoch, optimiser step, layer seed states, and the sha256 and
                                size of latest.weights.h5
    latest.weights.h5.bkp       the same pair one save earlier (hard links)
    training_metadata.json.bkp

A save links the current pair to the .bkp names, writes the new weights to a temporary file
(fsync, rename) and then the metadata (atomic). A kill at any instant therefore leaves a metadata
file whose checksum matches one of the two weights files, and a checkpoint is used only when it
does: a truncated, bit-flipped, missing or half-written weights file is never loaded. The epoch,
the optimiser step and the data a resumed run builds all come from the metadata of the weights
actually loaded, so a resume either equals an uninterrupted run or is refused.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from kzoo.utils.errors import UserError
from kzoo.utils.files import (
    atomic_save,
    atomic_write_json,
    is_storage_fault,
    link_or_copy,
    read_json,
    storage_error,
)

WEIGHTS = "latest.weights.h5"
METADATA = "training_metadata.json"
BACKUP = ".bkp"
# HDF5 spends up to a few KiB per dataset beyond the raw bytes (measured: 1.2-2 KiB).
_H5_BYTES_PER_VARIABLE = 4096
_H5_MARGIN = 64 << 10


class CheckpointError(UserError):
    """No checkpoint in the directory can be trusted: the run cannot resume exactly."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: `weights` matches the sha256 recorded in `metadata`.

    Attributes:
        directory: the checkpoint directory.
        weights: the weights file to load (possibly the `.bkp` one).
        metadata: its metadata (epoch, iterations, seed_states, weights_sha256, weights_bytes).
        metadata_path: the file `metadata` was read from.
        problem: why the latest weights were not used (None when they were).
    """

    directory: Path
    weights: Path
    metadata: dict
    metadata_path: Path
    problem: str | None = None

    @property
    def epoch(self) -> int:
        return int(self.metadata["epoch"])

    @property
    def is_latest(self) -> bool:
        return self.weights.name == WEIGHTS and self.metadata_path.name == METADATA


def sha256_of(path) -> str:
    """The sha256 of a file's bytes (read in chunks; a link is not followed)."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_checkpoint(directory) -> Checkpoint | None:
    """The checkpoint a resume must start from: None if the directory holds none.

    The latest metadata is tried against the latest weights, then against the `.bkp` weights (a
    kill between the rename of new weights and their metadata leaves the old ones there); then the
    `.bkp` metadata likewise. The first pair whose checksum matches wins.

    Raises:
        CheckpointError: metadata exists but no weights file matches it (naming the latest file
            and what is wrong with it).
    """
    directory = Path(directory)
    latest, previous = directory / METADATA, directory / (METADATA + BACKUP)
    if not os.path.lexists(latest) and not os.path.lexists(previous):
        return None  # nothing finished yet (weights without metadata are not trusted)
    weights = [directory / WEIGHTS, directory / (WEIGHTS + BACKUP)]
    hashes: dict[Path, str | None] = {}
    problem = None
    for metadata_path in (latest, previous):
        metadata, why = _read_metadata(metadata_path)
        if metadata is None:
            problem = problem or why
            continue
        for path in weights:
            if path not in hashes:
                hashes[path] = _hash_or_none(path)
            if hashes[path] is not None and hashes[path] == metadata["weights_sha256"]:
                found = Checkpoint(directory, path, metadata, metadata_path)
                if not found.is_latest:
                    found = Checkpoint(
                        directory, path, metadata, metadata_path, problem or _why(directory)
                    )
                return found
        problem = problem or _why(directory)
    raise CheckpointError(
        f"cannot resume exactly: {problem}, and no earlier checkpoint in {str(directory)!r} "
        f"matches its checksum; delete {str(directory)!r} to restart the run from epoch 0, or use "
        "another run_dir"
    )


def _why(directory: Path) -> str:
    path = directory / WEIGHTS
    if os.path.islink(path):
        return f"{str(path)!r} is a symbolic link"
    if not os.path.exists(path):
        return f"{str(path)!r} is missing"
    return (
        f"{str(path)!r} does not match the sha256 in {METADATA} (truncated, changed, or its save "
        "was interrupted)"
    )


def _read_metadata(path: Path) -> tuple[dict | None, str]:
    if os.path.islink(path):
        return None, f"{str(path)!r} is a symbolic link"
    try:
        metadata = read_json(path)
    except UserError:
        return None, f"{str(path)!r} is damaged (not valid JSON)"
    if metadata is None:
        return None, f"{str(path)!r} is missing"
    if not isinstance(metadata, dict) or not isinstance(metadata.get("weights_sha256"), str):
        return None, f"{str(path)!r} records no checksum (written by an older kzoo)"
    if not isinstance(metadata.get("epoch"), int) or metadata["epoch"] < 0:
        return None, f"{str(path)!r} records no valid epoch"
    return metadata, ""


def _hash_or_none(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:  # missing, a link (O_NOFOLLOW), unreadable
        return None


def estimate_bytes(variables) -> int:
    """An upper estimate of the size of an HDF5 file holding `variables` (for a free-space check)."""
    total = _H5_MARGIN
    for v in variables:
        size = 1
        for d in v.shape:
            size *= int(d)
        total += size * _itemsize(v.dtype) + _H5_BYTES_PER_VARIABLE
    return total


def _itemsize(dtype) -> int:
    import numpy as np

    try:
        return np.dtype(str(dtype)).itemsize
    except TypeError:
        return 8


def save_checkpoint(directory, model, metadata: dict) -> dict:
    """Write the model's weights and optimiser state with `metadata` as the latest checkpoint.

    `metadata` gets the weights' sha256 and size; the previous pair becomes the `.bkp` pair. The
    free space is checked first against the previous weights' size (or an estimate): HDF5 can crash
    the process on a full disk instead of raising. A storage fault raises `StorageError`; the
    previous checkpoint stays as it was.

    Returns:
        The metadata written.
    """
    directory = Path(directory)
    if os.path.islink(directory):
        raise UserError(
            f"{str(directory)!r} is a symbolic link; kzoo does not write through links inside a "
            "run directory: remove the link and rerun"
        )
    weights, metadata_path = directory / WEIGHTS, directory / METADATA
    try:
        previous = os.stat(weights).st_size
    except FileNotFoundError:
        previous = None
    if previous is not None:
        needed = previous + _H5_MARGIN
    else:
        needed = estimate_bytes([*model.weights, *model.optimizer.variables])
    if os.path.lexists(metadata_path):  # a finished epoch's pair: keep it as the .bkp pair
        for path in (weights, metadata_path):
            if os.path.lexists(path):
                _link(path, f"{path}{BACKUP}")
    digest = {}

    def save(tmp):
        model.save_weights(tmp, overwrite=True)
        digest["sha256"] = sha256_of(tmp)
        digest["bytes"] = os.path.getsize(tmp)

    atomic_save(weights, save, needed=needed)
    written = {**metadata, "weights_sha256": digest["sha256"], "weights_bytes": digest["bytes"]}
    atomic_write_json(metadata_path, written)
    return written


def repair(checkpoint: Checkpoint) -> None:
    """Make the latest pair a copy of `checkpoint` (a `.bkp` file or pair): the next save then
    keeps it as the `.bkp` pair instead of a damaged file. Weights first, then metadata: a kill
    in between leaves a latest pair that fails its checksum and the `.bkp` pair intact."""
    if checkpoint.is_latest:
        return
    directory = checkpoint.directory
    if checkpoint.weights.name != WEIGHTS:
        _link(checkpoint.weights, directory / WEIGHTS)
    if checkpoint.metadata_path.name != METADATA:
        _link(checkpoint.metadata_path, directory / METADATA)


def _link(src, dst) -> None:
    try:
        link_or_copy(src, dst)
    except OSError as err:
        if is_storage_fault(err):
            raise storage_error(err, dst) from err
        raise


def remove_leftovers(directory, keep_weights: bool) -> None:
    """Delete what a killed save can leave: temporary files, and (when no metadata exists yet,
    `keep_weights` False) weights written before their first metadata."""
    directory = Path(directory)
    if not directory.is_dir() or directory.is_symlink():
        return
    for entry in directory.iterdir():
        name = entry.name
        temporary = name.startswith(".") or name.endswith(".tmp") or name == "incoming.weights.h5"
        orphan = not keep_weights and name in (WEIGHTS, WEIGHTS + BACKUP)
        if (temporary or orphan) and not entry.is_dir():
            entry.unlink()
