"""Callbacks of the engine: atomic resumable checkpoints, resumable early stopping, history files."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import keras
import numpy as np

from kzoo.training.checkpoint import (
    CheckpointError,
    estimate_bytes,
    find_checkpoint,
    remove_leftovers,
    repair,
    save_checkpoint,
    sha256_of,
)
from kzoo.training.optimizers import current_learning_rate
from kzoo.utils.files import (
    atomic_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    link_or_copy,
    read_json,
)

_FIND = object()  # AtomicBackupAndRestore: find the checkpoint at on_train_begin


def seed_state_variables(model: keras.Model) -> list:
    """The random-seed state variables of the model's layers (dropout masks, ...).

    `model.variables` includes them and `model.weights` does not; `save_weights` skips them.
    """
    weight_ids = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weight_ids]


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` whose checkpoints survive a kill at any instant and are
    loaded only when their checksum matches.

    Keras writes the weights file in place and then the epoch metadata, and on a weights file it
    cannot read it silently loads the previous one while the epoch counter stays; a kill during or
    between the two writes leaves a torn file or weights one epoch ahead of the metadata. Here the
    files are written as `kzoo.training.checkpoint` describes (temporary name, fsync, rename; the
    metadata records the weights' sha256), and the checkpoint loaded is the one `find_checkpoint`
    verified, the same one the engine built the data and the epoch counter from. The metadata also
    carries the layers' random-seed states (which `save_weights` leaves out), so a resumed run
    draws the same dropout masks as an uninterrupted one.

    Only the public hooks of Keras' class are overridden (`on_train_begin`, `on_epoch_end`); it
    stays a `BackupAndRestore` for code that looks for one.

    Under multi-worker training every worker saves at the end of each epoch (saving can read
    variables that are aggregated across workers), but only the chief into `backup_dir`; the
    others write to their own `write_dir`, and every worker restores from `backup_dir` (on a file
    system all workers share), as `tf.keras`' BackupAndRestore did with MultiWorkerMirroredStrategy
    (Keras 3's has no multi-worker mode).

    Args:
        backup_dir: the checkpoint directory (`run_dir/checkpoint`), read at restore.
        write_dir: where this process saves; None means `backup_dir` (the chief, one device).
        checkpoint: the verified checkpoint to restore (`find_checkpoint(backup_dir)`, None for a
            fresh start); omitted, `on_train_begin` finds it.
        extra_metadata: a function returning more entries for each save's metadata (e.g. the
            checksum of the best weights so far).
    """

    def __init__(self, backup_dir, write_dir=None, checkpoint=_FIND, extra_metadata=None):
        super().__init__(
            backup_dir, save_freq="epoch", double_checkpoint=True, delete_checkpoint=False
        )
        self.write_dir = str(write_dir or backup_dir)
        self.checkpoint = checkpoint
        self.extra_metadata = extra_metadata
        self.saved_epoch = None

    @property
    def owns_backup_dir(self) -> bool:
        return os.path.abspath(self.write_dir) == os.path.abspath(self.backup_dir)

    def on_train_begin(self, logs=None):
        if self.checkpoint is _FIND:
            self.checkpoint = find_checkpoint(self.backup_dir)
        found = self.checkpoint
        if self.owns_backup_dir:
            remove_leftovers(self.write_dir, keep_weights=found is not None)
            if found is not None:
                repair(found)
        self.saved_epoch = found.epoch if found is not None else 0
        if found is None:
            return
        model = self.model
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # its variables must exist to load
        if found.weights.name.endswith(".weights.h5"):
            model.load_weights(str(found.weights))
        else:  # Keras loads by suffix: a .bkp file is read through a link with the right one
            os.makedirs(self.write_dir, exist_ok=True)
            alias = os.path.join(self.write_dir, f".restore-{os.getpid()}.weights.h5")
            link_or_copy(found.weights, alias)
            try:
                model.load_weights(alias)
            finally:
                os.unlink(alias)
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        if iterations != found.metadata["iterations"]:
            raise CheckpointError(
                f"{str(found.weights)!r} holds optimiser step {iterations} but its metadata says "
                f"{found.metadata['iterations']}; delete {str(self.backup_dir)!r} to restart the run"
            )
        for variable, value in zip(
            seed_state_variables(model), found.metadata.get("seed_states", []), strict=True
        ):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def on_epoch_end(self, epoch, logs=None):
        metadata = {
            "epoch": epoch + 1,
            "batch": 0,
            "iterations": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "seed_states": [
                keras.ops.convert_to_numpy(v).tolist() for v in seed_state_variables(self.model)
            ],
            **(self.extra_metadata() if self.extra_metadata is not None else {}),
        }
        save_checkpoint(self.write_dir, self.model, metadata)
        self.saved_epoch = epoch + 1


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` that continues across a resume and keeps the best weights on disk.

    Keras' version restarts its patience count at every `fit` and keeps the best weights in memory,
    so after a resume it would stop at another epoch than an uninterrupted run. Here the epochs
    already run are replayed from the history at `on_train_begin`, and the best weights are written
    (atomically) to `best_path` and restored from there at the end.

    The sha256 of the best weights goes into each checkpoint's metadata (`best_weights_sha256`);
    at the end the file is loaded only if it still matches, else the run is refused naming it.

    Args:
        best_path: file for the best weights (`.weights.h5`).
        past_logs: the logs of the epochs already finished, in order.
        restore_from: the chief's best weights file, for a worker whose `best_path` is its own
            temporary file (after a restart it may hold none); None means `best_path`.
        best_sha256: the checksum of the best weights recorded by the checkpoint resumed from.
        **kwargs: `keras.callbacks.EarlyStopping` arguments (`monitor`, `patience`, ...).
    """

    def __init__(self, best_path, past_logs=(), restore_from=None, best_sha256=None, **kwargs):
        kwargs.pop("restore_best_weights", None)
        super().__init__(restore_best_weights=False, **kwargs)
        self.best_path = str(best_path)
        self.restore_from = str(restore_from or best_path)
        self.past_logs = list(past_logs)
        self.best_sha256 = best_sha256

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for epoch, past in enumerate(self.past_logs):
            super().on_epoch_end(epoch, past)

    def on_epoch_end(self, epoch, logs=None):
        best_before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best is not best_before and self.best_epoch == epoch:
            atomic_save(
                self.best_path,
                lambda p: self.model.save_weights(p, overwrite=True),
                needed=estimate_bytes(self.model.weights),
            )
            self.best_sha256 = sha256_of(self.best_path)

    def metadata(self) -> dict:
        """What a checkpoint records about the best weights."""
        return {"best_weights_sha256": self.best_sha256}

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        for path in dict.fromkeys((self.best_path, self.restore_from)):
            if not os.path.lexists(path):
                continue
            if self.best_sha256 is not None and sha256_of(path) != self.best_sha256:
                raise CheckpointError(
                    f"{path!r} does not match the sha256 its checkpoint recorded (truncated or "
                    "changed); the best weights of this run are lost: delete the run directory "
                    "to train it again"
                )
            self.model.load_weights(path)
            return
        if self.best_sha256 is not None:
            raise CheckpointError(
                f"{self.restore_from!r} is missing: the best weights of this run are lost; "
                "delete the run directory to train it again"
            )


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


def plot_curves(rows, path, title: str | None = None) -> None:
    """Loss, accuracy (training and validation) and learning rate per epoch as a PNG (atomic), under
    `title` (model, dataset and the headline number); epochs on integer ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

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
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())

