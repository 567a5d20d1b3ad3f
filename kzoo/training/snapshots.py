"""Snapshot ensembles (Huang et al. 2017): M cosine cycles in one run, a snapshot at each cycle's end.

The learning rate follows Keras' `CosineDecayRestarts` with cycles of equal length (epochs / M)
and no decay between them, so it falls to `min_learning_rate` and jumps back to `learning_rate` M
times; the weights at the end of cycle k are `run_dir/snapshots/snapshot-k.weights.h5` (network
weights only). Each is written atomically, and its sha256 goes into the next checkpoint's metadata
(`snapshot_sha256`): a resume keeps the snapshots that checkpoint vouches for, an epoch run again
rewrites its snapshot with the same bits, and at the end every snapshot must match its checksum
before the ensemble (the mean of the snapshots' probabilities) is evaluated.

Reference:
    Huang, Li, Pleiss, Liu, Hopcroft, Weinberger, "Snapshot Ensembles: Train 1, get M for free",
    ICLR 2017 (arXiv:1704.00109).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from kzoo.training.checkpoint import CheckpointError, estimate_bytes, sha256_of
from kzoo.utils.files import atomic_save

FOLDER = "snapshots"


def snapshot_name(k: int) -> str:
    return f"snapshot-{k}.weights.h5"


def cycle_steps(config, steps_per_epoch: int) -> int:
    return (config.epochs // config.snapshots) * steps_per_epoch


class SnapshotSaver(keras.callbacks.Callback):
    """Save the weights at the end of every cycle of `cycle_epochs` epochs into `folder`.

    Args:
        folder: `run_dir/snapshots` (a worker other than the chief passes its scratch folder).
        cycle_epochs: epochs per cycle.
        recorded: `{k: sha256}` of the snapshots the resumed checkpoint vouches for.
    """

    def __init__(self, folder, cycle_epochs: int, recorded=None):
        super().__init__()
        self.folder = Path(folder)
        self.cycle_epochs = int(cycle_epochs)
        self.sha256 = {int(k): v for k, v in (recorded or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.cycle_epochs:
            return
        from kzoo.models.weights_h5 import write_weights_file

        k = (epoch + 1) // self.cycle_epochs
        path = self.folder / snapshot_name(k)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_save(path, lambda tmp: write_weights_file(self.model, tmp),
                    needed=estimate_bytes(self.model.weights))
        self.sha256[k] = sha256_of(path)

    def metadata(self) -> dict:
        """What each checkpoint records: the sha256 of every snapshot so far."""
        return {"snapshot_sha256": {str(k): v for k, v in sorted(self.sha256.items())}}

    def verified_paths(self) -> list[Path]:
        """The snapshots in cycle order, each checked against its recorded sha256."""
        paths = []
        for k, digest in sorted(self.sha256.items()):
            path = self.folder / snapshot_name(k)
            if os.path.islink(path) or not path.is_file() or sha256_of(path) != digest:
                raise CheckpointError(
                    f"{str(path)!r} is missing or does not match the sha256 its checkpoint "
                    "recorded; the snapshots of this run are lost: delete the run directory to "
                    "train it again"
                )
            paths.append(path)
        return paths


def evaluate_snapshots(model, paths, test_batches, num_classes: int) -> dict:
    """Test accuracy and cross-entropy of each snapshot and of their ensemble (mean probability).

    `model` is a built copy of the network; each snapshot is loaded into it through kzoo's weights
    loader (structure checked before values)."""
    from kzoo.models.pretrained import WeightsSource, load_pretrained

    xs, ys = [], []
    for x, y in test_batches:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    labels = np.concatenate(ys).astype(int)
    if labels.ndim > 1:
        labels = labels.argmax(-1)
    probabilities = []
    for path in paths:
        load_pretrained(model, WeightsSource("weights_h5", path, str(path)))
        probabilities.append(np.concatenate(
            [np.asarray(model(x, training=False), dtype="float64") for x in xs]))
    out = {}
    for i, p in enumerate(probabilities, start=1):
        out[f"snapshot_{i}_test_accuracy"] = float(np.mean(p.argmax(-1) == labels))
    mean = np.mean(probabilities, axis=0)
    picked = np.clip(mean[np.arange(len(labels)), labels], 1e-12, 1.0)
    out["snapshot_ensemble_test_accuracy"] = float(np.mean(mean.argmax(-1) == labels))
    out["snapshot_ensemble_test_cross_entropy"] = float(-np.mean(np.log(picked)))
    out["snapshots"] = len(paths)
    return out
