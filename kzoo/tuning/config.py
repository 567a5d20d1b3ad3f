"""`TuneConfig`: the settings of one hyperparameter search, over a base `TrainConfig`.

Declared like `TrainConfig` (`kzoo.utils.settings`): validation, the flags of `kzoo tune` and of the
recipes' `--tune`, the JSON form and the search fingerprint derive from the declarations below. The
base `TrainConfig` (`training`) holds everything a trial and the retraining train with (optimiser,
schedule, weight decay, precision, batch size, seed, data directory, ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kzoo.training.config import TrainConfig, dataset_names, model_names, unknown_name
from kzoo.tuning.distributed import DEFAULT_HOST, DEFAULT_PORT
from kzoo.tuning.space import OBJECTIVES, TUNERS
from kzoo.utils.errors import UserError
from kzoo.utils.settings import REQUIRED, Settings, setting

ROLES = (None, "chief", "worker")
# The recipes' --tune spells these differently: the recipe's own --overwrite and
# --validation-split are the training run's.
RECIPE_FLAGS = {"overwrite": "--tune-overwrite", "validation_split": "--tune-validation-split"}
# Names the keyword form of `tune(...)` accepted before TuneConfig existed; they belong to the base
# TrainConfig.
TRAINING_KEYWORDS = ("batch_size", "seed", "data_dir")


@dataclass
class TuneConfig(Settings):
    """Settings of one search: `kzoo.tuning.tune(TuneConfig(...))` runs it.

    Args:
        model: a registered model name, e.g. `"plain_mlp"`, `"wrn_16_4"`.
        dataset: a dataset name, e.g. `"digits"`.
        tuner, max_trials, epochs, objective, overrides: the search (`epochs` is each trial's
            length; `overrides` pins or narrows the space: `{name: value}` or `["name=SPEC"]`,
            see `kzoo.tuning.space`).
        validation_split: the part of the training split held out to score the trials.
        directory, project_name: the search lives in `directory/project_name` (default
            `<model>_<dataset>_<tuner>`).
        overwrite: delete an existing search of that name and start afresh.
        retrain, retrain_epochs: retrain the best setting on train + validation for
            `retrain_epochs` (default: the base config's epochs) and test it once.
        executions_per_trial, max_consecutive_failed_trials: trainings per trial; stop after this
            many failed trials in a row.
        role, host, port, tuner_id: keras-tuner's chief/worker mode (`kzoo.tuning.distributed`).
        export, export_root: publish the retrained best model as `<export_root>/<export>/<v>/`.
        verbose: 0 silent, 1 per-trial progress and the table, 2 also per-epoch lines.
        training: the base `TrainConfig` of the trials and the retraining (None: the engine's
            defaults, with `epochs` trial epochs).

    Example:
        >>> config = TuneConfig("plain_mlp", "digits", tuner="bayesian", max_trials=20, epochs=10,
        ...                     overrides={"optimizer": "adam"})
        >>> result = kzoo.tuning.tune(config)
    """

    model: str = setting(REQUIRED, "registered model name", group="model", flag=None)
    dataset: str = setting("digits", "dataset name (kzoo datasets)", group="data")
    tuner: str = setting("random", "search algorithm", group="search", choices=TUNERS)
    max_trials: int | None = setting(
        10, "number of trials (not Hyperband; grid: at most)", group="search", low=1,
        metavar="N", fingerprint=False,
    )
    epochs: int = setting(
        10, "epochs per trial (Hyperband: the largest budget)", group="search", low=1,
        flag="--trial-epochs", metavar="N",
    )
    objective: str = setting(
        "val_accuracy", "what the search maximises (val_accuracy) or minimises (val_loss)",
        group="search", choices=OBJECTIVES,
    )
    overrides: Any = setting(
        (), "pin or narrow a hyperparameter (repeatable)", group="search", flag="--hp",
        metavar="NAME=SPEC", repeat=True,
    )
    validation_split: float = setting(
        0.1, "part of the training split that scores the trials", group="search", low=0.0,
        high=1.0, low_open=True, high_open=True, metavar="FRACTION",
    )
    directory: str | os.PathLike = setting(
        "tuning", "directory of the searches", group="search", flag="--tune-dir", metavar="DIR",
        fingerprint=False,
    )
    project_name: str | None = setting(
        None, "search name (default: model_dataset_tuner)", group="search", flag="--project",
        metavar="NAME", fingerprint=False,
    )
    overwrite: bool = setting(
        False, "discard an existing search and start afresh", group="search", fingerprint=False
    )
    retrain: bool = setting(
        True, "retrain the best setting on train + validation", group="search",
        flag="--no-retrain", fingerprint=False,
    )
    retrain_epochs: int | None = setting(
        None, "epochs of the final training on train + validation", group="search", low=1,
        metavar="N", fingerprint=False,
    )
    executions_per_trial: int = setting(
        1, "trainings per trial (averaged)", group="search", low=1, flag=None
    )
    max_consecutive_failed_trials: int = setting(
        5, "stop after this many failed trials in a row", group="search", low=1,
        flag="--max-failed", metavar="N", fingerprint=False,
    )
    role: str | None = setting(
        None, "chief (serve the oracle) or worker (run trials for a chief)", group="distribution",
        choices=ROLES, flag=None, fingerprint=False,
    )
    host: str = setting(
        DEFAULT_HOST, "chief address (the service is unauthenticated)", group="distribution",
        metavar="ADDRESS", fingerprint=False,
    )
    port: int = setting(
        DEFAULT_PORT, "chief port", group="distribution", low=1, high=65535, metavar="PORT",
        fingerprint=False,
    )
    tuner_id: str | None = setting(
        None, "a worker's unique id (default worker<pid>)", group="distribution", metavar="ID",
        fingerprint=False,
    )
    export: str | None = setting(
        None, "export the retrained best model as <export-root>/NAME/<version>/", group="run",
        metavar="NAME", fingerprint=False,
    )
    export_root: str | os.PathLike = setting(
        "saved_models", "folder of the exported models", group="run", metavar="DIR",
        fingerprint=False,
    )
    verbose: int = setting(
        1, "0 silent, 1 per-trial progress and the table, 2 also per-epoch lines", group="run",
        choices=(0, 1, 2), fingerprint=False,
    )
    training: TrainConfig | None = field(default=None)

    @property
    def project_dir(self) -> Path:
        """Where the search lives: `directory/project_name`."""
        name = self.project_name or f"{self.model}_{self.dataset}_{self.tuner}"
        return Path(self.directory) / name

    def base_training(self) -> TrainConfig:
        """The base `TrainConfig` of the trials and the retraining, for this model and dataset."""
        if self.training is None:
            return TrainConfig(model=self.model, dataset=self.dataset, run_dir="",
                               epochs=self.epochs)
        return dataclasses.replace(self.training, model=self.model, dataset=self.dataset)

    def validate(self) -> TuneConfig:
        """Raise `SettingError` naming the first bad setting; return self."""
        self.validate_fields()
        if self.training is not None and not isinstance(self.training, TrainConfig):
            raise self.error("{training} must be a TrainConfig or None", "training")
        base = self.base_training()
        base.validate_fields()
        for name, valid in (("model", model_names()), ("dataset", dataset_names())):
            if getattr(self, name) not in valid:
                raise unknown_name(self, name, getattr(self, name), valid)
        if self.tuner != "hyperband" and self.max_trials is None and self.tuner != "grid":
            raise self.error(f"{{max_trials}} is needed by the {self.tuner} tuner", "max_trials")
        if not isinstance(self.overrides, (dict, list, tuple)):
            raise self.error(
                "{overrides} must be a dict {name: value} or a list of 'NAME=SPEC' strings",
                "overrides",
            )
        if not isinstance(self.directory, (str, os.PathLike)) or not os.fspath(self.directory):
            raise self.error("{directory} must be a non-empty path", "directory")
        if self.export is not None:
            from kzoo.export.paths import validate_name, validate_root

            validate_name(self.export)
            validate_root(self.export_root)
            if not self.retrain:
                raise self.error(
                    "{export} exports the retrained best model, but {retrain} is off", "export"
                )
        return self

    def search_fingerprint(self, space: dict) -> str:
        """SHA-256 of what decides the search's trials: this config's fingerprinted settings,
        the base training config's fingerprint and the HyperModel's search space `space`."""
        data = {
            "search": self.fingerprint_fields(),
            "training": self.base_training().fingerprint_fields(),
            "space": space,
        }
        text = json.dumps(data, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_keywords(cls, model, dataset=None, **kwargs) -> TuneConfig:
        """The keyword form `tune("plain_mlp", "digits", batch_size=..., seed=...)`: the training
        keywords (`batch_size`, `seed`, `data_dir`) go into the base TrainConfig."""
        moved = {k: kwargs.pop(k) for k in TRAINING_KEYWORDS if kwargs.get(k) is not None}
        for k in TRAINING_KEYWORDS:
            kwargs.pop(k, None)
        unknown = sorted(set(kwargs) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"tune() got unknown argument(s) {', '.join(unknown)}")
        config = cls(model=model, **({"dataset": dataset} if dataset is not None else {}), **kwargs)
        if moved:
            base = config.base_training()
            config = dataclasses.replace(config, training=dataclasses.replace(base, **moved))
        return config
