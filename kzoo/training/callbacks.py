"""Callbacks of the engine: atomic resumable checkpoints, resumable early stopping, history files."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import keras
import numpy as np

from kzoo.training.optimizers import current_learning_rate
from kzoo.utils.files import (
    atomic_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    link_or_copy,
    read_json,
)

METADATA = "training_metadata.json"


def seed_state_variables(model: keras.Model) -> list:
    """The random-seed state variables of the model's layers (dropout masks, ...).

    `model.variables` includes them and `model.weights` does not; `save_weights` skips them.
    """
    weight_ids = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weight_ids]


def completed_epochs(backup_dir) -> int:
    """The number of finished epochs recorded by the checkpoint in `backup_dir` (0 if none)."""
    metadata = read_json(Path(backup_dir) / METADATA, default={})
    return int(metadata.get("epoch", 0))


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose checkpoints survive a kill at any instant.

    Keras writes the weights file in place and then the epoch metadata: a kill during or between
    the two leaves a torn file or weights one epoch ahead of the metadata. Here each file is written
    to a temporary name and `os.replace`d; the previous weights stay as a hard link, and loading
    checks the optimiser step count against the metadata and falls back to them on a mismatch. The
    metadata also carries the layers' random-seed states (which `save_weights` leaves out), so a
    resumed run draws the same dropout masks as an uninterrupted one.

    Under multi-worker training every worker saves at the end of each epoch (saving can read
    variables that are aggregated across workers), but only the chief into `backup_dir`; the
    others write to their own `write_dir`, and every worker restores from `backup_dir` (on a file
    system all workers share), as `tf.keras`' BackupAndRestore did with MultiWorkerMirroredStrategy
    (Keras 3's has no multi-worker mode).

    Args:
        backup_dir: the checkpoint directory (`run_dir/checkpoint`), read at restore.
        write_dir: where this process saves; None means `backup_dir` (the chief, one device).
    """

    def __init__(self, backup_dir, write_dir=None):
        super().__init__(
            backup_dir, save_freq="epoch", double_checkpoint=True, delete_checkpoint=False
        )
        self.write_dir = str(write_dir or backup_dir)

    def _save_model(self):
        directory = self.write_dir
        os.makedirs(directory, exist_ok=True)
        metadata = {
            "epoch": self._current_epoch,
            "batch": self._last_batch_seen,
            "iterations": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "seed_states": [
                keras.ops.convert_to_numpy(v).tolist() for v in seed_state_variables(self.model)
            ],
        }
        incoming = os.path.join(directory, "incoming.weights.h5")
        weights_path = os.path.join(directory, os.path.basename(self._weights_path))
        metadata_path = os.path.join(directory, os.path.basename(self._training_metadata_path))
        self.model.save_weights(incoming, overwrite=True)
        for path in (weights_path, metadata_path):
            if os.path.exists(path):
                link_or_copy(path, f"{path}.bkp")
        os.replace(incoming, weights_path)
        atomic_write_json(metadata_path, metadata)

    def _load_model(self):
        metadata = read_json(self._training_metadata_path)
        if metadata is None:
            # Nothing finished yet; a weights file without its metadata is not trusted.
            return
        super()._load_model()
        iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if iterations != metadata["iterations"]:
            # Killed between replacing the weights and the metadata: the previous weights match.
            # Keras loads by suffix, so they are linked under a .weights.h5 name (the chief
            # repairs the checkpoint; another worker links into its own directory).
            target = os.path.join(self.write_dir, os.path.basename(self._weights_path))
            os.makedirs(self.write_dir, exist_ok=True)
            link_or_copy(self._prev_weights_path, target)
            self.model.load_weights(target)
            iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            if iterations != metadata["iterations"]:
                raise RuntimeError(
                    f"The checkpoint in {self.backup_dir} is inconsistent (optimiser step {iterations}, "
                    f"metadata step {metadata['iterations']}); delete it to restart the run."
                )
        for variable, value in zip(
            seed_state_variables(self.model), metadata.get("seed_states", []), strict=True
        ):
            variable.assign(np.asarray(value, dtype=variable.dtype))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` that continues across a resume and keeps the best weights on disk.

    Keras' version restarts its patience count at every `fit` and keeps the best weights in memory,
    so after a resume it would stop at another epoch than an uninterrupted run. Here the epochs
    already run are replayed from the history at `on_train_begin`, and the best weights are written
    (atomically) to `best_path` and restored from there at the end.

    Args:
        best_path: file for the best weights (`.weights.h5`).
        past_logs: the logs of the epochs already finished, in order.
        restore_from: the chief's best weights file, for a worker whose `best_path` is its own
            temporary file (after a restart it may hold none); None means `best_path`.
        **kwargs: `keras.callbacks.EarlyStopping` arguments (`monitor`, `patience`, ...).
    """

    def __init__(self, best_path, past_logs=(), restore_from=None, **kwargs):
        kwargs.pop("restore_best_weights", None)
        super().__init__(restore_best_weights=False, **kwargs)
        self.best_path = str(best_path)
        self.restore_from = str(restore_from or best_path)
        self.past_logs = list(past_logs)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for epoch, past in enumerate(self.past_logs):
            super().on_epoch_end(epoch, past)

    def on_epoch_end(self, epoch, logs=None):
        best_before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best is not best_before and self.best_epoch == epoch:
            atomic_save(self.best_path, lambda p: self.model.save_weights(p, overwrite=True))

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        for path in (self.best_path, self.restore_from):
            if os.path.exists(path):
                self.model.load_weights(path)
                break


class HistoryWriter(keras.callbacks.Callback):
    """Adds the learning rate to the logs, times the epoch and rewrites history.json / history.csv after each epoch.

    Keras' CSVLogger appends in place (a kill can tear a row, a resume repeats rows), hence this.

    Args:
        run_dir: the run directory.
        past_rows: rows of epochs already finished (a resumed run continues them).
    """

    def __init__(self, run_dir, past_rows=()):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.rows = [dict(r) for r in past_rows]
        self._lr = None

    def on_epoch_begin(self, epoch, logs=None):
        self._lr = current_learning_rate(self.model.optimizer)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._lr is not None:
            logs["learning_rate"] = self._lr
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["epoch_seconds"] = time.perf_counter() - self._start
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        write_history(self.run_dir, self.rows)


def write_history(run_dir, rows) -> None:
    run_dir = Path(run_dir)
    atomic_write_json(run_dir / "history.json", rows)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_dir / "history.csv", buffer.getvalue())


def load_history(run_dir, epochs_done: int) -> list[dict]:
    """History rows of the first `epochs_done` epochs (rows of an epoch whose checkpoint was lost go)."""
    rows = read_json(Path(run_dir) / "history.json", default=[])
    return [r for r in rows if r["epoch"] <= epochs_done]


def plot_curves(rows, path) -> None:
    """Loss, accuracy (training and validation) and learning rate per epoch as a PNG (atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    panels = [("loss", "loss (training objective)"), ("accuracy", "accuracy")]
    if any("learning_rate" in r for r in rows):
        panels.append(("learning_rate", "learning rate"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (metric, label) in zip(axes, panels, strict=True):
        for prefix, name in (("", "training"), ("val_", "validation")):
            values = [r.get(prefix + metric) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())

