"""`train(config)`: the one training loop every recipe uses (Keras `fit` + resumable run directory)."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from kzoo.training import averaging, distribute, rundir, snapshots, transfer
from kzoo.training.callbacks import (
    AtomicBackupAndRestore,
    HistoryWriter,
    ResumableEarlyStopping,
    load_history,
    plot_curves,
    write_history,
)
from kzoo.training.checkpoint import estimate_bytes, find_checkpoint
from kzoo.training.config import TrainConfig
from kzoo.training.diagnostics import DiagnosticsCallback
from kzoo.training.optimizers import decay_only_kernels, make_optimizer
from kzoo.training.precision import precision_policy
from kzoo.training.regularization import with_kernel_l2
from kzoo.utils.errors import UserError
from kzoo.utils.files import atomic_save, atomic_write_json, read_json


@dataclass
class TrainResult:
    """What `train` returns: the trained model, per-epoch history, final metrics, the run directory."""

    model: keras.Model
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    run_dir: Path | None = None


def train(config: TrainConfig) -> TrainResult:
    """Train `config.model` on `config.dataset` as `config` says; resume if the run directory allows.

    Rerunning the same config continues from the last finished epoch (even after `kill -9`) and ends
    with the weights an uninterrupted run would have; rerunning a finished run loads its results.
    More `epochs` than the run directory's continue it (to the weights of an uninterrupted run of
    the new length) when its schedule allows: constant, inverse_sqrt or multistep with the same
    milestones; cosine is refused, saying why. A run directory made by a different config is
    refused unless `config.overwrite`.
    Every argument is checked before data is loaded or any file is written.

    With `config.strategy` the model and optimiser are built under the strategy's scope and every
    worker runs this function; only the chief writes `run_dir` (the others keep their checkpoints
    in a temporary directory, deleted at the end), and every worker returns the same result.

    Args:
        config: a `TrainConfig`.

    Returns:
        A `TrainResult`; `metrics` holds `test_accuracy`, `test_loss` (the training objective) and
        `test_cross_entropy` (plain cross-entropy), evaluated once on the test split at the end.

    Example:
        >>> result = train(TrainConfig(model="plain_cnn", dataset="digits", run_dir="runs/quick",
        ...                            epochs=5, optimizer="adam", learning_rate=1e-3))
        >>> result.metrics["test_accuracy"]
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"`config` must be a TrainConfig; received {type(config).__name__}.")
    config.validate()
    config = transfer.resolve_init(config)  # the source's sha256 joins the fingerprint
    strategy = distribute.strategy_for(config.strategy)
    plan = _plan(config, strategy.num_replicas_in_sync)
    state = rundir.check_run_dir(config, plan.replicas)
    chief = distribute.is_chief(strategy)
    with contextlib.ExitStack() as held, _terminate_as_interrupt():
        try:
            if chief and state != "new":  # refuse a second writer before loading any data
                state = _lock_run_dir(held, config, plan, state, strategy)
            checkpoint = _resume_point(config, state)  # refused here, before any data is loaded
            _check_workers_agree(config, strategy, state, checkpoint)
            if state == "finished":
                return _load_finished(config)
            return _build_and_fit(config, plan, state, strategy, held, checkpoint)
        except KeyboardInterrupt as err:
            if isinstance(err, TrainingInterrupted):
                raise
            raise TrainingInterrupted(_interrupted_message(config)) from None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped `train`; the message says after which epoch and how to resume.

    A `KeyboardInterrupt`, so `except KeyboardInterrupt` still catches it; the command line prints
    its message as one line and exits with status 130.
    """


def _interrupted_message(config: TrainConfig) -> str:
    """What a rerun resumes from: the epoch of the checkpoint on disk (verified as a resume would)."""
    try:
        found = find_checkpoint(Path(config.run_dir) / "checkpoint")
        done = found.epoch if found is not None else 0
    except (OSError, ValueError):
        done = 0
    return (
        f"interrupted after epoch {done} of {config.epochs}; rerun the same command to resume"
    )


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while training (when nobody else handles it), so a
    terminated run ends like Ctrl-C: files closed, the lock released, one line."""
    installed = False
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _raise_interrupt)
            installed = True
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt("terminated")


def _lock_run_dir(held, config, plan, state, strategy) -> str:
    """Take the run directory's write lock for the rest of `train`; return its state, read again
    under the lock (another process may have changed it in the meantime)."""
    held.enter_context(rundir.run_dir_lock(config.run_dir))
    now = rundir.check_run_dir(config, plan.replicas)
    if now != state and distribute.is_multi_worker(strategy):
        raise UserError(
            f"run directory {str(config.run_dir)!r} changed while the workers started (another "
            "process wrote it); rerun the job"
        )
    return now


def _resume_point(config: TrainConfig, state: str):
    """The verified checkpoint a resumed (or extended) run starts from (None: start at epoch 0)."""
    if state not in ("resume", "extend"):
        return None
    return find_checkpoint(Path(config.run_dir) / "checkpoint")


def _build_and_fit(config, plan, state, strategy, held, checkpoint) -> TrainResult:
    import kzoo.data
    from kzoo.registry import create_model

    with precision_policy(config.mixed_precision):
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        bundle = kzoo.data.load(
            config.dataset,
            batch_size=plan.global_batch_size,
            validation_split=config.validation_split,
            seed=config.seed,
            augment=config.augment,
            data_dir=config.data_dir,
            manual_dir=config.manual_dir,
            normalize=config.normalize,
        )
        info = bundle.info
        keras.utils.set_random_seed(config.seed)
        steps = bundle.steps_per_epoch
        if config.max_steps_per_epoch is not None:
            steps = min(steps, config.max_steps_per_epoch)
        model_kwargs = {"classes": info.num_classes, "input_shape": tuple(info.input_shape)}
        with strategy.scope():
            model = create_model(config.model, **{**model_kwargs, **config.model_kwargs})
            kzoo.data.check_input_shape(info, model)  # before anything is written to run_dir
            if config.init_from is not None:
                transfer.load_initial_weights(model, config, config.dataset)
            model = _compile(config, plan, model, steps)
        # Only the chief writes the run directory; another worker writes to a temporary one.
        write_dir = None
        if not distribute.is_chief(strategy):
            write_dir = distribute.worker_scratch_dir(config, strategy)
        elif state == "new":
            state = _lock_run_dir(held, config, plan, state, strategy)
            if state == "finished":  # another process finished this run meanwhile
                return _load_finished(config)
            checkpoint = _resume_point(config, state)
        try:
            with distribute.keras_multiworker_fixes(strategy):
                return _fit(
                    config, plan, state, bundle, model, steps, strategy, write_dir, checkpoint
                )
        finally:
            if write_dir is not None:
                shutil.rmtree(write_dir, ignore_errors=True)


class _Plan(NamedTuple):
    """Batch and learning rate across replicas (see `kzoo.training.distribute`)."""

    replicas: int
    global_batch_size: int
    lr_factor: float


def _plan(config: TrainConfig, replicas: int) -> _Plan:
    if config.per_replica_batch:
        global_batch = config.batch_size * replicas
    else:
        if config.batch_size % replicas:
            raise ValueError(
                f"`batch_size` is the global batch, split evenly over the {replicas} replicas of "
                f"strategy={config.strategy!r}; received batch_size={config.batch_size}. Use a "
                f"multiple of {replicas}, or per_replica_batch=True."
            )
        global_batch = config.batch_size
    factor = global_batch / config.batch_size if config.lr_scaling == "linear" else 1.0
    return _Plan(replicas, global_batch, factor)


def _check_workers_agree(config: TrainConfig, strategy, state: str, checkpoint) -> None:
    """Every worker must find the same run directory (finished or not, epochs done)."""
    done = checkpoint.epoch if checkpoint is not None else 0
    found = distribute.gather_from_workers(strategy, [int(state == "finished"), done])
    if any(f != found[0] for f in found):
        seen = "; ".join(
            f"worker {i}: {'finished' if f[0] else f'{f[1]} epochs done'}"
            for i, f in enumerate(found)
        )
        raise ValueError(
            f"The workers see different run directories at run_dir={config.run_dir!r} ({seen}). "
            "Every worker must read the chief's run directory: put it on a file system they share."
        )


def _compile(config: TrainConfig, plan: _Plan, model: keras.Model, steps: int) -> keras.Model:
    return compile_for_training(config, model, steps, lr_factor=plan.lr_factor)


def compile_for_training(
    config: TrainConfig, model: keras.Model, steps: int, lr_factor: float = 1.0
) -> keras.Model:
    """Compile `model` as `train(config)` does (L2 clone, optimiser and schedule, loss, metrics).

    Args:
        config: the run's `TrainConfig`.
        model: the built, uncompiled network.
        steps: optimisation steps per epoch (the schedules count in steps).
        lr_factor: learning-rate scaling (`lr_scaling="linear"` under a strategy).

    Returns:
        The compiled model (a clone with kernel L2 penalties when `config` asks for them).
    """
    if config.decay_mode == "l2" and config.weight_decay > 0:
        model = with_kernel_l2(model, config.weight_decay)
    transfer.freeze_layers(model, config.freeze)  # on the clone: it is the model that trains
    if config.backbone_lr_multiplier != 1.0:
        optimizer = transfer.backbone_optimizer(config, steps, make_optimizer, lr_factor)
    else:
        scaled = dataclasses.replace(
            config,
            learning_rate=config.learning_rate * lr_factor,
            min_learning_rate=config.min_learning_rate * lr_factor,
        )
        optimizer = make_optimizer(scaled, steps)
    decay_only_kernels(optimizer, model)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="accuracy"),
            keras.metrics.CategoricalCrossentropy(name="cross_entropy"),
        ],
    )
    return model


def _fit(
    config, plan, state, bundle, model, steps, strategy, write_dir, checkpoint
) -> TrainResult:
    info = bundle.info
    if write_dir is None:
        run_dir = write_dir = rundir.prepare_run_dir(config, state, plan.replicas)
        atomic_write_json(run_dir / "normalization.json", _normalization(info))
    else:
        run_dir = Path(config.run_dir)
    # Another worker restores what the chief saved, and only in a resumed run: in a new or
    # overwritten one the chief may be emptying the directory right now.
    read_dir = run_dir if write_dir == run_dir or state in ("resume", "extend") else write_dir
    # The data, the epoch counter, the history and early stopping all restart from the checkpoint
    # that is loaded: the one whose weights match their checksum (a new or overwritten run, and
    # another worker's scratch directory, have none).
    initial_epoch = min(checkpoint.epoch, config.epochs) if checkpoint is not None else 0
    if checkpoint is not None and checkpoint.problem:
        print(
            f"kzoo: {checkpoint.problem}; resuming from the checkpoint of epoch "
            f"{checkpoint.epoch} ({checkpoint.weights.name})",
            file=sys.stderr,
        )
    past_rows = load_history(read_dir, initial_epoch)
    write_history(write_dir, past_rows)
    history = HistoryWriter(write_dir, past_rows)
    callbacks = [history]
    stopper = None
    if config.early_stopping_patience is not None:
        stopper = ResumableEarlyStopping(
            write_dir / "best.weights.h5",
            past_logs=past_rows,
            restore_from=read_dir / "best.weights.h5",
            best_sha256=checkpoint.metadata.get("best_weights_sha256") if checkpoint else None,
            monitor=config.early_stopping_monitor,
            patience=config.early_stopping_patience,
            verbose=1 if config.verbose else 0,
        )
        callbacks.append(stopper)
    swa = saver = None
    if config.weight_averaging == "swa":  # its averages are created before a restore
        swa = averaging.StochasticWeightAveraging(averaging.swa_start_epoch(config))
        callbacks.append(swa)
    if config.snapshots:
        saver = snapshots.SnapshotSaver(
            write_dir / snapshots.FOLDER, config.epochs // config.snapshots,
            recorded=checkpoint.metadata.get("snapshot_sha256") if checkpoint else None,
        )
        callbacks.append(saver)
    recorders = [c.metadata for c in (stopper, saver) if c is not None]
    backup = AtomicBackupAndRestore(
        str(read_dir / "checkpoint"),
        write_dir / "checkpoint",
        checkpoint=checkpoint,
        extra_metadata=(lambda: {k: v for r in recorders for k, v in r().items()})
        if recorders else None,
    )
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(write_dir / "logs")))
    if config.diagnostics:
        x_probe, y_probe = _probe_batch(bundle, config.diagnostics_samples)
        callbacks.append(
            DiagnosticsCallback(
                x_probe,
                y_probe,
                write_dir / "diagnostics.json",
                log_dir=write_dir / "logs" / "diagnostics" if config.tensorboard else None,
                initial_epoch=initial_epoch,
            )
        )
    callbacks.append(backup)  # last: an epoch counts as done once everything above is written

    one_hot = one_hot_labels(info.num_classes)
    validation = None
    if bundle.validation is not None:
        validation = distribute.shard_by_data(bundle.validation.map(one_hot))
    if initial_epoch < config.epochs and not _already_stopped(stopper, model):
        if state == "extend" and config.verbose:
            print(f"Continuing {run_dir} from epoch {initial_epoch} to {config.epochs} (its "
                  f"{config.schedule} schedule does not depend on the number of epochs).")
        elif initial_epoch and config.verbose:
            print(f"Resuming {run_dir} after epoch {initial_epoch} of {config.epochs}.")
        model.fit(
            distribute.shard_by_data(
                train_batches(bundle, initial_epoch, config.epochs, steps).map(one_hot)
            ),
            steps_per_epoch=steps,
            initial_epoch=initial_epoch,
            epochs=config.epochs,
            validation_data=validation,
            shuffle=False,  # the data bundle shuffles each epoch by (seed, epoch)
            callbacks=callbacks,
            verbose=fit_verbosity(config.verbose),
        )
        fitted = True
    else:  # every epoch already ran: restore the final state without training
        fitted = False
        with strategy.scope():  # the optimiser's variables are made here
            if swa is not None:
                swa.set_model(model)
                swa.ensure_variables()
            backup.set_model(model)
            backup.on_train_begin()
            if stopper is not None:
                stopper.on_train_end()
    extra = averaging.finish(model, config, swa, lambda: train_batches(bundle, 0, 1, steps),
                             after_fit=fitted)
    test_data = distribute.shard_by_data(bundle.test.map(one_hot))
    scores = model.evaluate(test_data, return_dict=True, verbose=0)
    if saver is not None:
        extra.update(snapshots.evaluate_snapshots(
            keras.models.clone_model(model), saver.verified_paths(), bundle.test,
            info.num_classes))
    chief = write_dir == run_dir
    return _finish(config, plan, run_dir if chief else None, model, history.rows, scores, stopper,
                   extra)


def _finish(config, plan, run_dir: Path | None, model, rows, scores, stopper,
            extra=None) -> TrainResult:
    """Final metrics; the chief (run_dir not None) writes the curves, model.keras and metrics.json."""
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "test_accuracy": float(scores["accuracy"]),
        "test_loss": float(scores["loss"]),
        "test_cross_entropy": float(scores["cross_entropy"]),
        "epochs_run": len(rows),
        "epochs_planned": config.epochs,
        "stopped_early": bool(stopper is not None and len(rows) < config.epochs),
        "trainable_params": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "precision_policy": model.dtype_policy.name,
        "train_seconds": float(sum(r.get("epoch_seconds", 0.0) for r in rows)),
        "fingerprint": config.fingerprint(),
        "strategy": config.strategy,
        "replicas": plan.replicas,
        "global_batch_size": plan.global_batch_size,
        "learning_rate": config.learning_rate * plan.lr_factor,
    }
    for key in ("val_accuracy", "val_loss"):
        if rows and key in rows[-1]:
            metrics[f"final_{key}"] = rows[-1][key]
    if config.init_from is not None:
        metrics.update(init_from=str(config.init_from), init_from_sha256=config.init_from_sha256,
                       non_trainable_params=int(sum(np.prod(v.shape) for v in model.non_trainable_weights)))
    metrics.update(extra or {})
    if run_dir is not None:
        if rows:
            title = (f"{config.model} on {config.dataset}: test accuracy "
                     f"{metrics['test_accuracy']:.4f} after {len(rows)} epochs")
            plot_curves(rows, run_dir / "curves.png", title=title)
        # The saved model is an uncompiled copy: loading it needs neither the optimiser nor the
        # schedule. It is made outside the strategy's scope, so it holds plain variables.
        final = keras.models.clone_model(model)
        final.set_weights(model.get_weights())
        atomic_save(run_dir / "model.keras", final.save, needed=estimate_bytes(final.weights))
        atomic_write_json(run_dir / rundir.METRICS, metrics)
    return TrainResult(
        model=model, history=list(rows), metrics=metrics, run_dir=run_dir or Path(config.run_dir)
    )


def _load_finished(config: TrainConfig) -> TrainResult:
    run_dir = Path(config.run_dir)
    if config.verbose:
        print(f"{run_dir} already holds this finished run; loading its results.")
    from kzoo.models.keras_files import load_keras  # scans the archive before loading it

    model = load_keras(run_dir / "model.keras")
    return TrainResult(
        model=model,
        history=read_json(run_dir / "history.json", default=[]),
        metrics=read_json(run_dir / rundir.METRICS),
        run_dir=run_dir,
    )


def _already_stopped(stopper, model) -> bool:
    """Replay the finished epochs through early stopping: did it already stop the run?"""
    if stopper is None:
        return False
    stopper.set_model(model)
    stopper.on_train_begin()
    stopped = bool(model.stop_training)
    model.stop_training = False
    return stopped


def train_batches(bundle, initial_epoch: int, epochs: int, steps: int) -> tf.data.Dataset:
    """The training batches of epochs initial_epoch..epochs-1, each epoch cut to `steps` batches
    (integer labels; `one_hot_labels` converts them for the engine's loss).

    Each epoch's order and augmentation is a pure function of (seed, epoch), so the batches of a
    resumed run or of a tuning trial are the ones `train` would use.
    """
    if steps >= bundle.steps_per_epoch:
        return bundle.train_epochs(initial_epoch, epochs)
    parts = [bundle.train_epochs(e, e + 1).take(steps) for e in range(initial_epoch, epochs)]
    data = parts[0]
    for part in parts[1:]:
        data = data.concatenate(part)
    return data


def fit_verbosity(verbose: int) -> int:
    """Keras' verbosity for `fit`: the progress bar (1) only on a terminal; written to a file or
    a pipe it would be kilobytes of escape codes per line, so there it is one line per epoch (2)."""
    if verbose == 1 and not sys.stdout.isatty():
        return 2
    return verbose


def one_hot_labels(num_classes: int):
    """A `tf.data` map function: (x, integer y) -> (x, one-hot y).

    Keras' sparse cross-entropy has no label smoothing, so the engine trains on one-hot labels.
    """
    def convert(x, y):
        return x, tf.one_hot(tf.cast(y, tf.int32), num_classes)

    return convert


def _probe_batch(bundle, samples: int):
    """A fixed batch of validation (else test) examples for the diagnostics."""
    source = bundle.validation if bundle.validation is not None else bundle.test
    xs, ys = [], []
    for x, y in source:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        if sum(len(b) for b in xs) >= samples:
            break
    x, y = np.concatenate(xs)[:samples], np.concatenate(ys)[:samples]
    return x, np.eye(bundle.info.num_classes, dtype="float32")[y.astype(int)]


def _normalization(info) -> dict:
    """What a serving signature needs to turn raw inputs into what the model saw in training."""
    return {
        "dataset": info.name,
        "kind": info.kind,
        "input_shape": list(info.input_shape),
        "num_classes": int(info.num_classes),
        "class_names": [str(c) for c in info.class_names],
        "mean": np.asarray(info.mean, dtype="float64").tolist(),
        "std": np.asarray(info.std, dtype="float64").tolist(),
        "raw_dtype": str(info.raw_dtype),
        # The method, raw shape and, for pca / zca, the projection (an exported model applies it).
        **(info.normalization.to_json() if getattr(info, "normalization", None) else {}),
        # The raw values of the training split: `kzoo predict` refuses inputs outside them.
        **({"raw_range": list(info.raw_range)} if getattr(info, "raw_range", None) else {}),
    }
