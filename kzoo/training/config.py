"""`TrainConfig`: every setting of one training run, declared once and validated before anything is
built or written.

Each field is declared with `kzoo.utils.settings.setting`: its type, default, range or choices, help
text, flag spelling (`--lr`), group (data / model / optimisation / regularisation / run /
distribution) and whether it is part of the run fingerprint. Validation, the command-line flags of
`kzoo train`, `kzoo tune` and the recipes, the JSON form in `config.json` and the fingerprint all
derive from these declarations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kzoo.utils.checks import check_number
from kzoo.utils.errors import SettingError
from kzoo.utils.settings import REQUIRED, Settings, setting

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "multistep", "cosine", "inverse_sqrt")
WEIGHT_DECAY_MODES = (None, "l2", "decoupled")
PRECISION_POLICIES = (None, "auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = (None, "mirrored", "multiworker", "tpu")
LR_SCALINGS = ("none", "linear")
# kzoo.data.normalize.METHODS, spelled out here so that the config needs no TensorFlow.
NORMALIZATIONS = ("standardize", "center", "pca", "zca", "none")
WEIGHT_AVERAGING = (None, "ema", "swa")


@dataclass
class TrainConfig(Settings):
    """Settings of one training run; `kzoo.training.train(config)` runs it.

    Every field is declared below with its help text (`kzoo train --help` shows the same texts,
    grouped). Fields not in the fingerprint (`run_dir`, `overwrite`, `verbose`, `data_dir`,
    `manual_dir`, `strategy`) may change between an interrupted run and its resume.

    Args:
        model: a registered model name (`kzoo.list_models()`), e.g. `"resnet20"`.
        dataset: a dataset name (`kzoo.data.list_datasets()`), e.g. `"cifar10"` or `"digits"`.
        run_dir: directory of the run: checkpoints, logs, history, metrics, the final model.
        model_kwargs: extra builder arguments, e.g. `{"dropout": 0.3}` (`--model-arg dropout=0.3`).
        epochs, batch_size, validation_split, augment, data_dir, manual_dir: the data and its passes
            (`batch_size` is the global batch over all replicas unless `per_replica_batch`).
        normalize: the input normalisation (`kzoo.data.load`'s `normalize`).
        optimizer, learning_rate, momentum, schedule, milestones, gamma, min_learning_rate,
            warmup_epochs: the optimiser and its learning-rate schedule (`"multistep"` multiplies by
            `gamma` at each milestone epoch; `"cosine"` ends at `min_learning_rate`;
            `"inverse_sqrt"` is the lecture's eta / sqrt(t + 1), t = optimisation step).
        weight_decay, weight_decay_mode, label_smoothing, early_stopping_patience,
            early_stopping_monitor: regularisation (`"l2"` adds lambda/2 ||W||^2 over every kernel
            to the loss, as the papers; `"decoupled"` shrinks kernels in the optimiser; None:
            `"decoupled"` for `"adamw"`, `"l2"` otherwise).
        seed, deterministic, mixed_precision, max_steps_per_epoch, diagnostics,
            diagnostics_samples, tensorboard, overwrite, verbose: how the run executes and what it
            records (`mixed_precision="auto"` picks bfloat16 on CPUs with AVX512_BF16 or AMX,
            float16 on tensor-core GPUs, float32 elsewhere).
        strategy, per_replica_batch, lr_scaling: distribution over devices and workers (see
            `kzoo.training.distribute`).

    Example:
        >>> config = TrainConfig(model="resnet20", dataset="cifar10", run_dir="runs/resnet20",
        ...                      epochs=182, optimizer="momentum", learning_rate=0.1,
        ...                      schedule="multistep", milestones=(91, 136), weight_decay=1e-4)
        >>> result = kzoo.training.train(config)
    """

    # model
    model: str = setting(REQUIRED, "registered model name (kzoo list)", group="model")
    # data
    dataset: str = setting(REQUIRED, "dataset name (kzoo datasets)", group="data")
    run_dir: str | os.PathLike = setting(
        REQUIRED, "run directory (default: runs/<recipe>/<model>-<dataset>)", group="run",
        fingerprint=False, metavar="DIR",
    )
    model_kwargs: dict[str, Any] = setting(
        {}, "a builder argument, e.g. dropout=0.3 (repeatable)", group="model",
        flag="--model-arg",
    )
    epochs: int = setting(10, "training epochs", group="optimisation", low=1)
    batch_size: int = setting(
        128, "examples per optimisation step over all replicas (the global batch)",
        group="optimisation", low=1,
    )
    validation_split: float = setting(
        0.1, "held-out fraction of the training split", group="data", low=0.0, high=1.0,
        high_open=True, metavar="FRACTION",
    )
    augment: bool | None = setting(
        None, "data augmentation (default: the dataset's)", group="data"
    )
    normalize: str = setting(
        "standardize", f"input normalisation, one of {', '.join(NORMALIZATIONS)} (statistics "
        "from the training split; pca / zca need --no-augment on CIFAR)", group="data",
        choices=NORMALIZATIONS, fingerprint="if_set",
    )
    data_dir: str | None = setting(
        None, "where TFDS keeps prepared datasets (default: TFDS')", group="data",
        fingerprint=False, metavar="DIR",
    )
    manual_dir: str | None = setting(
        None, "directory of dataset archives downloaded by hand", group="data",
        fingerprint=False, metavar="DIR",
    )
    # optimisation
    optimizer: str = setting(
        "momentum", f"one of {', '.join(OPTIMIZERS)}", group="optimisation", choices=OPTIMIZERS
    )
    learning_rate: float = setting(
        0.1, "initial (peak) learning rate", group="optimisation", flag="--lr", low=0.0,
        low_open=True,
    )
    momentum: float = setting(
        0.9, "momentum of momentum / nesterov", group="optimisation", low=0.0, high=1.0,
        high_open=True,
    )
    schedule: str = setting(
        "constant", f"one of {', '.join(SCHEDULES)}", group="optimisation", choices=SCHEDULES
    )
    milestones: tuple[int, ...] = setting(
        (), "multistep decay epochs (default: the paper's, scaled to --epochs)",
        group="optimisation",
    )
    gamma: float = setting(
        0.1, "multistep decay factor", group="optimisation", low=0.0, low_open=True
    )
    min_learning_rate: float = setting(
        0.0, "final learning rate of the cosine schedule", group="optimisation", flag="--min-lr",
        low=0.0,
    )
    warmup_epochs: float = setting(
        0.0, "linear warm-up epochs (may be fractional)", group="optimisation", low=0.0
    )
    # regularisation
    weight_decay: float = setting(0.0, "weight decay lambda", group="regularisation", low=0.0)
    weight_decay_mode: str | None = setting(
        None, "l2 (in the loss) or decoupled (in the optimiser; default for adamw)",
        group="regularisation", choices=WEIGHT_DECAY_MODES,
    )
    label_smoothing: float = setting(
        0.0, "label smoothing", group="regularisation", low=0.0, high=1.0, high_open=True
    )
    early_stopping_patience: int | None = setting(
        None, "stop after this many epochs without improvement (keeps the best weights)",
        group="regularisation", flag="--early-stopping", low=1, metavar="EPOCHS",
    )
    early_stopping_monitor: str = setting(
        "val_loss", "the logged quantity early stopping watches", group="regularisation",
        flag=None,
    )
    # run
    seed: int = setting(0, "random seed (weights, data order, augmentation, dropout)",
                        group="run", low=0)
    deterministic: bool = setting(
        True, "TensorFlow op determinism (bit-reproducible runs and resumes)", group="run",
        flag=None,
    )
    mixed_precision: str | None = setting(
        "auto", "precision policy: auto, float32, mixed_float16 or mixed_bfloat16", group="run",
        choices=PRECISION_POLICIES,
    )
    max_steps_per_epoch: int | None = setting(
        None, "cap steps per epoch", group="run", low=1, metavar="N"
    )
    diagnostics: bool = setting(
        False, "record per-layer activations and gradient norms", group="run"
    )
    diagnostics_samples: int = setting(
        256, "probe batch size of --diagnostics", group="run", low=1, metavar="N"
    )
    tensorboard: bool = setting(True, "TensorBoard logs under run_dir/logs", group="run")
    # distribution
    strategy: str | None = setting(
        None, "mirrored, multiworker or tpu (default: one device); multiworker reads TF_CONFIG "
        "(see kzoo launch)", group="distribution", choices=STRATEGIES, fingerprint=False,
    )
    per_replica_batch: bool = setting(
        False, "--batch-size is per replica (global batch = batch size x replicas); default: "
        "global", group="distribution", fingerprint="if_set",
    )
    lr_scaling: str = setting(
        "none", "none or linear: linear multiplies the learning rate by the global batch / "
        "--batch-size", group="distribution", choices=LR_SCALINGS, fingerprint="if_set",
    )
    # fine-tuning, ensembles and weight averaging (added later: fingerprinted only when set)
    init_from: str | None = setting(
        None, "start from trained weights: a run directory, a .keras or .weights.h5 file, an "
        "exported SavedModel or a registered weights name (fine-tuning)", group="model",
        fingerprint="if_set", metavar="WEIGHTS",
    )
    init_from_sha256: str | None = setting(
        None, "the sha256 --init-from must have (default: recorded when the run starts; other "
        "bytes are refused)", group="model", fingerprint="if_set", metavar="SHA256",
    )
    freeze: str | None = setting(
        None, "layers kept fixed (their batch norm in inference mode): backbone (all but the "
        "classifier), N (the first N layers with weights) or a layer-name prefix", group="model",
        fingerprint="if_set", metavar="WHAT",
    )
    backbone_lr_multiplier: float = setting(
        1.0, "learning rate of the layers below the classifier, relative to --lr "
        "(discriminative learning rates)", group="optimisation", flag="--backbone-lr-mult",
        low=0.0, low_open=True, fingerprint="if_set",
    )
    snapshots: int = setting(
        0, "snapshot ensemble: restart a cosine schedule N times and keep the weights at the end "
        "of each cycle (Huang et al. 2017)", group="optimisation", low=0, fingerprint="if_set",
        metavar="N",
    )
    weight_averaging: str | None = setting(
        None, "ema (the optimiser's exponential moving average of the weights) or swa "
        "(stochastic weight averaging, Izmailov et al. 2018); batch norm statistics recomputed",
        group="regularisation", choices=WEIGHT_AVERAGING, fingerprint="if_set",
    )
    ema_momentum: float = setting(
        0.99, "decay of --weight-averaging ema per step", group="regularisation", low=0.0,
        high=1.0, high_open=True, fingerprint="if_set",
    )
    swa_start: float = setting(
        0.75, "fraction of the epochs after which --weight-averaging swa averages the weights at "
        "each epoch's end", group="regularisation", low=0.0, high=1.0, high_open=True,
        fingerprint="if_set", metavar="FRACTION",
    )
    overwrite: bool = setting(
        False, "replace an existing run directory made by other settings", group="run",
        fingerprint=False,
    )
    verbose: int = setting(
        1, "0 silent, 1 progress bar, 2 one line per epoch", group="run", choices=(0, 1, 2),
        fingerprint=False,
    )

    @property
    def decay_mode(self) -> str:
        """The weight decay mode in effect (`weight_decay_mode` with its default resolved)."""
        if self.weight_decay_mode is not None:
            return self.weight_decay_mode
        return "decoupled" if self.optimizer == "adamw" else "l2"

    def validate(self) -> TrainConfig:
        """Raise `SettingError` (a ValueError) naming the first bad setting; return self when all
        are valid.

        Checks everything that needs no data: each field against its declaration, names against
        the model registry and the dataset list, milestones against `epochs`, and the rules that
        tie settings together.
        """
        for name, valid in (("model", model_names), ("dataset", dataset_names)):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in valid():
                raise unknown_name(self, name, value, valid())
        if not isinstance(self.run_dir, (str, os.PathLike)) or not os.fspath(self.run_dir):
            raise self.error("{run_dir} must be a non-empty path", "run_dir")
        self.validate_fields()
        self._validate_milestones()
        check_number("min_learning_rate", self.min_learning_rate, 0.0, self.learning_rate,
                     owner=TrainConfig)
        if self.warmup_epochs >= self.epochs:
            raise self.error(f"{{warmup_epochs}} must be below {{epochs}} ({self.epochs})",
                             "warmup_epochs", "epochs")
        if self.optimizer == "adamw" and self.decay_mode == "l2":
            raise self.error(
                "{optimizer} adamw decays weights in the optimiser, not with {weight_decay_mode} "
                "l2", "weight_decay_mode",
                hint="Use {optimizer} adam with {weight_decay_mode} l2 for Adam + L2.",
            )
        if (
            self.early_stopping_patience is not None
            and self.early_stopping_monitor.startswith("val_")
            and self.validation_split == 0
        ):
            raise self.error(
                f"{{early_stopping_patience}} watches {self.early_stopping_monitor}, which needs a "
                "validation split", "validation_split",
                hint="Set {validation_split} above 0.",
            )
        self._validate_distribution()
        self._validate_transfer()
        return self

    def _validate_transfer(self) -> None:
        if self.init_from is not None and not self.init_from:
            raise self.error("{init_from} must name weights", "init_from")
        if self.init_from_sha256 is not None:
            if self.init_from is None:
                raise self.error("{init_from_sha256} checks the weights of {init_from}",
                                 "init_from_sha256", hint="Pass {init_from} too.")
            digits = set("0123456789abcdef")
            if len(self.init_from_sha256) != 64 or not set(self.init_from_sha256) <= digits:
                raise self.error("{init_from_sha256} must be 64 lowercase hex digits",
                                 "init_from_sha256")
        if self.freeze is not None and not self.freeze.strip():
            raise self.error("{freeze} must be backbone, a number of layers or a layer-name "
                             "prefix", "freeze")
        if self.freeze is not None and self.freeze.isdigit() and int(self.freeze) < 1:
            raise self.error("{freeze} must freeze at least 1 layer", "freeze")
        if self.snapshots:
            if self.snapshots < 2:
                raise self.error("{snapshots} must be 0 (off) or at least 2 cycles", "snapshots")
            if self.epochs % self.snapshots:
                raise self.error(
                    f"{{snapshots}} cycles must divide {{epochs}} ({self.epochs}) evenly",
                    "snapshots", "epochs",
                )
            if self.schedule != "cosine":
                raise self.error(
                    "{snapshots} restarts the cosine schedule; {schedule} must be cosine",
                    "schedule", hint="Add {schedule} cosine.",
                )
            if self.weight_averaging is not None:
                raise self.error(
                    "{snapshots} and {weight_averaging} are two ways to use the weights of one "
                    "run; choose one", "weight_averaging",
                )
            if self.early_stopping_patience is not None:
                raise self.error("{snapshots} keeps every cycle; it cannot stop early",
                                 "early_stopping_patience")
        if self.weight_averaging is not None:
            if self.early_stopping_patience is not None:
                raise self.error(
                    "{weight_averaging} ends with the averaged weights, {early_stopping_patience} "
                    "with the best epoch's; choose one", "early_stopping_patience",
                )
            if self.strategy is not None:
                raise self.error(
                    "{weight_averaging} recomputes batch-norm statistics on one device; it cannot "
                    "run under {strategy}", "strategy",
                )
        defaults = type(self).__dataclass_fields__
        for name, kind in (("ema_momentum", "ema"), ("swa_start", "swa")):
            if self.weight_averaging != kind and getattr(self, name) != defaults[name].default:
                raise self.error(
                    f"{{{name}}} applies to {{weight_averaging}} {kind} only; without it, it "
                    "would change nothing", name, hint=f"Add {{weight_averaging}} {kind}.",
                )

    def _validate_distribution(self) -> None:
        from kzoo.training.distribute import LAUNCHED_WORKERS, check_tf_config

        if self.lr_scaling == "linear" and not self.per_replica_batch:
            raise self.error(
                "{lr_scaling} linear scales the learning rate with the global batch, which is "
                "{batch_size} whatever the replicas unless {per_replica_batch} is set",
                "lr_scaling",
                hint="Add {per_replica_batch}, or use {lr_scaling} none.",
            )
        launched = int(os.environ.get(LAUNCHED_WORKERS, "1"))
        if launched > 1 and self.strategy != "multiworker":
            raise self.error(
                f"`kzoo launch` started {launched} workers of one job: with {{strategy}} other "
                "than multiworker each would train alone and write the same run directory",
                "strategy",
                hint="Pass {strategy} multiworker.",
            )
        if self.strategy == "multiworker":
            check_tf_config()
        if self.strategy is not None and self.diagnostics:
            raise self.error(
                "{diagnostics} probe one device and cannot run under {strategy}", "strategy",
                hint="Record them in a run without {strategy}.",
            )

    def _validate_milestones(self) -> None:
        milestones = tuple(self.milestones)
        if self.schedule != "multistep":
            if milestones:
                raise self.error(
                    f"{{milestones}} are used by {{schedule}} multistep only (schedule is "
                    f"{self.schedule!r})", "milestones",
                )
            return
        if not milestones:
            raise self.error("{schedule} multistep needs {milestones} (epochs)", "milestones")
        if not all(0 < m < self.epochs for m in milestones):
            raise self.error(
                f"{{milestones}} must be epochs in [1, {{epochs}}) = [1, {self.epochs})",
                "milestones", "epochs",
            )
        if any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
            raise self.error("{milestones} must be strictly increasing", "milestones")


def model_names() -> list[str]:
    """The registered model names (no TensorFlow needed)."""
    from kzoo.registry import list_models

    return list_models()


def dataset_names() -> list[str]:
    """The dataset names of kzoo's catalog (no TensorFlow needed)."""
    from kzoo.data.catalog import list_datasets

    return list(list_datasets())


def unknown_name(config, name: str, value, valid: list[str]) -> SettingError:
    """The error for a model or dataset name that is not known, with the closest ones."""
    import difflib

    close = difflib.get_close_matches(str(value), valid, n=3, cutoff=0.5)
    hint = f"Did you mean {', '.join(close)}?" if close else ""
    command = "kzoo list" if name == "model" else "kzoo datasets"
    return config.error(
        "unknown {" + name + "}", name, value=value,
        hint=(hint + " " if hint else "") + f"`{command}` lists them all.",
    )
