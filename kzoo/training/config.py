"""`TrainConfig`: every setting of one training run, validated before anything is built or written."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "multistep", "cosine", "inverse_sqrt")
WEIGHT_DECAY_MODES = (None, "l2", "decoupled")
PRECISION_POLICIES = (None, "auto", "float32", "mixed_float16", "mixed_bfloat16")

# Fields that do not change what is trained: a run directory may be resumed with other values.
# `strategy` is one of them: with the global batch fixed, one worker and two train the same model.
_NOT_FINGERPRINTED = ("run_dir", "overwrite", "verbose", "data_dir", "manual_dir", "strategy")
# Fields added after run directories existed: fingerprinted only when not at these defaults, so a
# run started before they existed keeps its fingerprint (and resumes).
_FINGERPRINTED_IF_SET = {"per_replica_batch": False, "lr_scaling": "none"}


@dataclass
class TrainConfig:
    """Settings of one training run; `kzoo.training.train(config)` runs it.

    Args:
        model: a registered model name (`kzoo.list_models()`), e.g. `"resnet20"`.
        dataset: a dataset name (`kzoo.data.list_datasets()`), e.g. `"cifar10"` or `"digits"`.
        run_dir: directory of the run: checkpoints, logs, history, metrics, the final model.
        model_kwargs: extra builder arguments, e.g. `{"dropout": 0.3}`.
        epochs: number of passes over the training split.
        batch_size: examples per optimisation step over all replicas (the global batch; split
            evenly over the replicas of `strategy`), or per replica with `per_replica_batch`.
        validation_split: fraction of the training split held out for validation (0 for none).
        augment: the data pipeline's augmentation argument (None: the dataset's default).
        data_dir: where TFDS keeps prepared data (None: its default).
        manual_dir: TFDS' manual-download directory (archives downloaded by hand; None: its default).
        optimizer: one of `OPTIMIZERS`: `"sgd"` (plain), `"momentum"`, `"nesterov"`, `"adagrad"`,
            `"rmsprop"`, `"adam"`, `"adamw"`.
        learning_rate: the initial (peak) learning rate eta.
        momentum: momentum of `"momentum"` / `"nesterov"`.
        schedule: one of `SCHEDULES`: `"constant"`; `"multistep"` (multiply by `gamma` at each of
            `milestones`, in epochs, as the ResNet/WRN/DenseNet papers do); `"cosine"` (to
            `min_learning_rate` at the last step); `"inverse_sqrt"` (the lecture's 1/t decay
            eta / sqrt(t + 1), t = optimisation step).
        milestones: strictly increasing epochs in [1, epochs) where `"multistep"` decays.
        gamma: the `"multistep"` factor (0.1 = divide by 10).
        min_learning_rate: the learning rate `"cosine"` ends at.
        warmup_epochs: linear warm-up over this many epochs (may be fractional) before the schedule.
        weight_decay: lambda of the weight decay; 0 for none.
        weight_decay_mode: `"l2"` adds lambda/2 * ||W||^2 over every kernel to the loss (gradient
            lambda * W, the papers' and the lecture's weight decay); `"decoupled"` shrinks kernels
            by lr * lambda each step in the optimiser (Loshchilov & Hutter). None: `"decoupled"`
            for `"adamw"`, `"l2"` otherwise.
        label_smoothing: cross-entropy label smoothing in [0, 1).
        early_stopping_patience: stop after this many epochs without improvement of
            `early_stopping_monitor` and keep the best weights; None disables early stopping.
        early_stopping_monitor: the logged quantity early stopping watches (`"val_loss"`, ...).
        seed: seeds weights, data order, augmentation and dropout.
        deterministic: enable TensorFlow op determinism (bit-reproducible runs and resumes).
        mixed_precision: `"auto"` (default: `"mixed_bfloat16"` on CPUs with AVX512_BF16 or AMX,
            `"mixed_float16"` on GPUs with tensor cores, `"float32"` elsewhere; see
            `kzoo.training.precision.resolve_precision`; the run's metrics record the policy
            used), None / `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`.
        max_steps_per_epoch: cap on steps per epoch (quick smoke runs); None trains full epochs.
        diagnostics: record per-layer activation statistics and gradient norms every epoch.
        diagnostics_samples: size of the fixed probe batch of the diagnostics.
        tensorboard: write TensorBoard logs under `run_dir/logs`.
        strategy: how training is distributed (`kzoo.training.distribute.STRATEGIES`): None (one
            device), `"mirrored"` (all local GPUs), `"multiworker"` (`MultiWorkerMirroredStrategy`,
            one process per worker, configured by each worker's `TF_CONFIG`) or `"tpu"`. Only the
            chief worker writes `run_dir`, which must be on a file system every worker reads.
        per_replica_batch: `batch_size` is per replica: the global batch is batch_size x replicas.
        lr_scaling: `"none"`, or `"linear"`: learning rates times global batch / batch_size (the
            linear scaling rule of Goyal et al. 2017; needs `per_replica_batch`).
        overwrite: replace an existing run directory made by a different (or the same) config.
        verbose: Keras' verbosity (1 = progress bar, 2 = one line per epoch, 0 = silent).

    Example:
        >>> config = TrainConfig(model="resnet20", dataset="cifar10", run_dir="runs/resnet20",
        ...                      epochs=182, optimizer="momentum", learning_rate=0.1,
        ...                      schedule="multistep", milestones=(91, 136), weight_decay=1e-4)
        >>> result = kzoo.training.train(config)
    """

    model: str
    dataset: str
    run_dir: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    validation_split: float = 0.1
    augment: Any = None
    data_dir: str | None = None
    manual_dir: str | None = None
    optimizer: str = "momentum"
    learning_rate: float = 0.1
    momentum: float = 0.9
    schedule: str = "constant"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    min_learning_rate: float = 0.0
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    weight_decay_mode: str | None = None
    label_smoothing: float = 0.0
    early_stopping_patience: int | None = None
    early_stopping_monitor: str = "val_loss"
    seed: int = 0
    deterministic: bool = True
    mixed_precision: str | None = "auto"
    max_steps_per_epoch: int | None = None
    diagnostics: bool = False
    diagnostics_samples: int = 256
    tensorboard: bool = True
    strategy: str | None = None
    per_replica_batch: bool = False
    lr_scaling: str = "none"
    overwrite: bool = False
    verbose: int = 1

    @property
    def decay_mode(self) -> str:
        """The weight decay mode in effect (`weight_decay_mode` with its default resolved)."""
        if self.weight_decay_mode is not None:
            return self.weight_decay_mode
        return "decoupled" if self.optimizer == "adamw" else "l2"

    def validate(self) -> TrainConfig:
        """Raise ValueError naming the first bad argument; return self when all are valid.

        Checks everything that needs no data: names are checked against the model registry and
        the dataset list, numbers against their ranges, milestones against `epochs`.
        """
        _check_name("model", self.model, _model_names())
        _check_name("dataset", self.dataset, _dataset_names())
        if not isinstance(self.run_dir, (str, bytes)) and not hasattr(self.run_dir, "__fspath__"):
            raise ValueError(f"`run_dir` must be a path; received run_dir={self.run_dir!r}.")
        if not str(self.run_dir):
            raise ValueError("`run_dir` must be a non-empty path; received run_dir=''.")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(
                f"`model_kwargs` must be a dict; received model_kwargs={self.model_kwargs!r}."
            )
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _number("validation_split", self.validation_split, 0.0, 1.0, high_open=True)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _number("learning_rate", self.learning_rate, 0.0, math.inf, low_open=True)
        _number("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _choice("schedule", self.schedule, SCHEDULES)
        self._validate_milestones()
        _number("gamma", self.gamma, 0.0, math.inf, low_open=True)
        _number("min_learning_rate", self.min_learning_rate, 0.0, self.learning_rate)
        _number("warmup_epochs", self.warmup_epochs, 0.0, self.epochs, high_open=True)
        _number("weight_decay", self.weight_decay, 0.0, math.inf)
        _choice("weight_decay_mode", self.weight_decay_mode, WEIGHT_DECAY_MODES)
        if self.optimizer == "adamw" and self.decay_mode == "l2":
            raise ValueError(
                "optimizer='adamw' decays weights in the optimiser; received weight_decay_mode='l2'. "
                "Use optimizer='adam' with weight_decay_mode='l2' for Adam + L2."
            )
        _number("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if self.early_stopping_patience is not None:
            _positive_int("early_stopping_patience", self.early_stopping_patience)
            if self.early_stopping_monitor.startswith("val_") and self.validation_split == 0:
                raise ValueError(
                    f"early_stopping_monitor={self.early_stopping_monitor!r} needs a validation split; "
                    "received validation_split=0. Set validation_split > 0 or monitor a training metric."
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0; received seed={self.seed!r}.")
        _choice("mixed_precision", self.mixed_precision, PRECISION_POLICIES)
        if self.max_steps_per_epoch is not None:
            _positive_int("max_steps_per_epoch", self.max_steps_per_epoch)
        _positive_int("diagnostics_samples", self.diagnostics_samples)
        _choice("verbose", self.verbose, (0, 1, 2))
        self._validate_distribution()
        return self

    def _validate_distribution(self) -> None:
        from kzoo.training.distribute import (
            LAUNCHED_WORKERS,
            LR_SCALINGS,
            STRATEGIES,
            check_tf_config,
        )

        _choice("strategy", self.strategy, STRATEGIES)
        _choice("per_replica_batch", self.per_replica_batch, (False, True))
        _choice("lr_scaling", self.lr_scaling, LR_SCALINGS)
        if self.lr_scaling == "linear" and not self.per_replica_batch:
            raise ValueError(
                "lr_scaling='linear' scales the learning rate with the global batch, which is "
                "batch_size whatever the replicas unless per_replica_batch=True; received "
                "per_replica_batch=False. Set per_replica_batch=True or lr_scaling='none'."
            )
        launched = int(os.environ.get(LAUNCHED_WORKERS, "1"))
        if launched > 1 and self.strategy != "multiworker":
            raise ValueError(
                f"`kzoo launch` started {launched} workers of one job, but strategy="
                f"{self.strategy!r}: each would train alone and write the same run_dir. "
                "Pass --strategy multiworker (strategy='multiworker')."
            )
        if self.strategy == "multiworker":
            check_tf_config()
        if self.strategy is not None and self.diagnostics:
            raise ValueError(
                f"`diagnostics` probe one device; received diagnostics=True with "
                f"strategy={self.strategy!r}. Record them in a run without a strategy."
            )

    def _validate_milestones(self) -> None:
        milestones = tuple(self.milestones)
        if self.schedule != "multistep":
            if milestones:
                raise ValueError(
                    f"`milestones` are used by schedule='multistep' only; received "
                    f"milestones={milestones!r} with schedule={self.schedule!r}."
                )
            return
        if not milestones:
            raise ValueError(
                "schedule='multistep' needs `milestones` (epochs); received milestones=()."
            )
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, int) or not 0 < m < self.epochs:
                raise ValueError(
                    f"`milestones` must be integer epochs in [1, epochs={self.epochs}); received "
                    f"milestones={milestones!r}."
                )
        if any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
            raise ValueError(
                f"`milestones` must be strictly increasing; received milestones={milestones!r}."
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        data = dataclasses.asdict(self)
        data["milestones"] = list(self.milestones)
        data["run_dir"] = str(self.run_dir)
        return data

    def fingerprint(self) -> str:
        """SHA-256 of the fields that decide what is trained (not run_dir, verbose, strategy, ...)."""
        data = {
            k: v
            for k, v in self.to_dict().items()
            if k not in _NOT_FINGERPRINTED
            and not (k in _FINGERPRINTED_IF_SET and v == _FINGERPRINTED_IF_SET[k])
        }
        text = json.dumps(data, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def differences(self, other: dict[str, Any]) -> dict[str, tuple]:
        """Fingerprinted fields whose value differs from `other` (a `to_dict()` of another config)."""
        mine = json.loads(json.dumps(self.to_dict(), default=repr))
        return {
            k: (other.get(k, _FINGERPRINTED_IF_SET.get(k)), v)
            for k, v in mine.items()
            if k not in _NOT_FINGERPRINTED and other.get(k, _FINGERPRINTED_IF_SET.get(k)) != v
        }


def _model_names() -> list[str]:
    from kzoo.registry import list_models

    return list_models()


def _dataset_names() -> list[str]:
    from kzoo.data import list_datasets

    return list(list_datasets())


def _check_name(name: str, value, valid: list[str]) -> None:
    if value not in valid:
        import difflib

        close = difflib.get_close_matches(str(value), valid, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown {name}={value!r}.{hint} Valid values: {', '.join(valid) or '(none registered)'}."
        )


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {valid}; received {name}={value!r}.")


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")


def _number(name, value, low, high, low_open=False, high_open=False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open or high == math.inf else "]"
        raise ValueError(
            f"`{name}` must be a number in {left}{low}, {high}{right}; received {name}={value!r}."
        )
