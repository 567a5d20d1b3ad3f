"""`tune`: search, report, retrain the best setting on train + validation, test once."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from kzoo.training.config import TrainConfig
from kzoo.training.engine import _train_data  # the engine's epochs cut to max_steps_per_epoch
from kzoo.tuning import distributed
from kzoo.tuning.hypermodels import hypermodel_for
from kzoo.tuning.results import format_table, trial_rows, write_results
from kzoo.tuning.search import check_search_args, make_tuner


@dataclass
class TuneResult:
    """What `tune` returns.

    `results` is the table of `kzoo.tuning.results.trial_rows` (None on a worker); `paths` the
    written files; `best_values` the best trial's hyperparameter values; `final` the
    `kzoo.training.TrainResult` of the retrained best setting and `test_metrics` its one test
    evaluation (None when `retrain=False`, on a worker, or when no trial completed);
    `export_path` the published SavedModel version directory (None without `export`).
    """

    project_dir: Path
    results: dict | None = None
    paths: dict = field(default_factory=dict)
    best_values: dict | None = None
    final: object | None = None
    test_metrics: dict | None = None
    export_path: Path | None = None


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}; received {name}={value!r}.")


def schedule_for(config: TrainConfig, epochs: int) -> TrainConfig:
    """`config` with its learning-rate schedule stretched or shrunk to `epochs` epochs.

    The schedule length is `config.epochs` (cosine decays over it, multistep milestones are epochs
    of it), so a trial of 3 epochs must not keep a 182-epoch base: the milestones move to the same
    fractions of `epochs` (`m * epochs // config.epochs`), kept in [1, epochs) and deduplicated; a
    multistep schedule left without milestones (1 epoch) becomes constant. Warm-up stays in epochs.

    Example:
        >>> base = TrainConfig("resnet20", "cifar10", "runs/r", epochs=182, schedule="multistep",
        ...                    milestones=(91, 136))
        >>> schedule_for(base, 10).milestones
        (5, 7)
    """
    _check_int("epochs", epochs, 1)
    if config.schedule != "multistep":
        return dataclasses.replace(config, epochs=epochs)
    moved = {m * epochs // config.epochs for m in config.milestones}
    milestones = tuple(sorted(m for m in moved if 0 < m < epochs))
    return dataclasses.replace(
        config,
        epochs=epochs,
        milestones=milestones,
        schedule="multistep" if milestones else "constant",
    )


def tune(
    model: str,
    dataset: str,
    *,
    tuner: str = "random",
    max_trials: int | None = 10,
    epochs: int = 10,
    objective: str = "val_accuracy",
    overrides=None,
    training: TrainConfig | None = None,
    batch_size: int | None = None,
    validation_split: float = 0.1,
    seed: int | None = None,
    directory="tuning",
    project_name: str | None = None,
    overwrite: bool = False,
    retrain: bool = True,
    retrain_epochs: int | None = None,
    executions_per_trial: int = 1,
    max_consecutive_failed_trials: int = 5,
    role: str | None = None,
    host: str = distributed.DEFAULT_HOST,
    port: int = distributed.DEFAULT_PORT,
    tuner_id: str | None = None,
    data_dir: str | None = None,
    export: str | None = None,
    export_root="saved_models",
    verbose: int = 1,
) -> TuneResult:
    """Tune `model` on `dataset`: search, write the results table and figure, retrain the best setting
    on train + validation and evaluate it once on the test split.

    Running the same call again after an interruption continues the search: finished trials are
    kept, the interrupted one runs again, then the report and the retraining follow. A larger
    `max_trials` extends a finished search.

    Args:
        model: a registered model name, e.g. `"plain_mlp"`, `"wrn_16_4"`.
        dataset: a dataset name, e.g. `"digits"`.
        tuner: "random", "bayesian", "hyperband" or "grid".
        max_trials: trials to run (ignored by Hyperband; None for grid = the whole grid).
        epochs: training epochs per trial (Hyperband: the largest budget).
        objective: "val_accuracy" or "val_loss".
        overrides: pin or narrow entries of the search space, `{name: value}` or
            `["name=SPEC", ...]` (see `kzoo.tuning.space`).
        training: the base `TrainConfig` of the trials and of the retraining (momentum, weight
            decay, schedule, label smoothing, precision, augmentation, `max_steps_per_epoch`,
            builder arguments...); its model and dataset are replaced by `model` and `dataset`.
            Trials train `epochs` epochs of its schedule rescaled to `epochs` (`schedule_for`);
            the retraining trains `retrain_epochs` epochs, rescaled the same way. None: the
            engine's defaults.
        batch_size, seed: of the trials and the retraining (default: `training`'s, else 128 and 0).
        validation_split: the part of the training split held out to score the trials.
        directory, project_name: the search lives in `directory/project_name`
            (default project name `<model>_<dataset>_<tuner>`).
        overwrite: delete an existing search of that name and start afresh.
        retrain: retrain the best setting on train + validation and test it once.
        retrain_epochs: epochs of the retraining (default: `training.epochs` if given, else `epochs`).
        executions_per_trial: trainings per trial, averaged.
        max_consecutive_failed_trials: stop the search after this many failed trials in a row.
        role: None (one process), "chief" (serve the oracle, then report and retrain) or "worker"
            (run trials for a chief); see `kzoo.tuning.distributed`.
        host, port: the chief's address (default 127.0.0.1 -- the oracle service is unauthenticated).
        tuner_id: a worker's unique id (default `worker<pid>`).
        data_dir: TFDS data directory (default: `training.data_dir`, else TFDS' own).
        export: export the retrained best model as the SavedModel `<export_root>/<export>/<version>/`
            (`kzoo.export.export_run`); the name is checked before the search starts.
        export_root: the folder of the exported models.
        verbose: 0 silent, 1 per-trial summaries and the table, 2 also per-epoch lines.

    Returns:
        A `TuneResult`.

    Example:
        >>> result = tune("plain_mlp", "digits", tuner="bayesian", max_trials=20, epochs=10,
        ...               overrides={"optimizer": "adam"})
        >>> result.best_values, result.test_metrics["test_accuracy"]
    """
    import kzoo.data
    from kzoo.registry import get_entry

    get_entry(model)
    if dataset not in kzoo.data.list_datasets():
        raise ValueError(
            f"Unknown dataset={dataset!r}; `kzoo.data.list_datasets()` lists "
            f"{', '.join(kzoo.data.list_datasets())}."
        )
    check_search_args(tuner, objective, max_trials, epochs, max_consecutive_failed_trials)
    if training is not None and not isinstance(training, TrainConfig):
        raise ValueError(f"`training` must be a TrainConfig or None; received {training!r}.")
    if batch_size is None:
        batch_size = training.batch_size if training is not None else 128
    if seed is None:
        seed = training.seed if training is not None else 0
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    _check_int("executions_per_trial", executions_per_trial, 1)
    if retrain_epochs is not None:
        _check_int("retrain_epochs", retrain_epochs, 1)
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) or not (
        0 < validation_split < 1
    ):
        raise ValueError(
            "`validation_split` must be in (0, 1): trials are scored on the held-out part; "
            f"received validation_split={validation_split!r}."
        )
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1 or 2; received verbose={verbose!r}.")
    distributed.environment(role or "chief", host=host, port=port, tuner_id=tuner_id)  # validates
    if export is not None:
        from kzoo.export.paths import validate_name, validate_root

        validate_name(export)
        validate_root(export_root)
        if not retrain:
            raise ValueError(
                f"`export` exports the retrained best model; received export={export!r} with "
                "retrain=False."
            )
    project_name = project_name or f"{model}_{dataset}_{tuner}"
    project_dir = Path(directory) / project_name
    base = dataclasses.replace(
        training or TrainConfig(model=model, dataset=dataset, run_dir=""),
        model=model,
        dataset=dataset,
        batch_size=batch_size,
        seed=seed,
    )
    if data_dir is not None:
        base = dataclasses.replace(base, data_dir=data_dir)
    trial_base = schedule_for(base, epochs)

    with distributed.role_environment(role, host=host, port=port, tuner_id=tuner_id):
        bundle = kzoo.data.load(
            dataset,
            batch_size=batch_size,
            validation_split=validation_split,
            seed=seed,
            augment=base.augment,
            data_dir=base.data_dir,
        )
        info = bundle.info
        steps = bundle.steps_per_epoch
        if base.max_steps_per_epoch is not None:
            steps = min(steps, base.max_steps_per_epoch)
        hypermodel = hypermodel_for(
            model,
            input_shape=tuple(info.input_shape),
            classes=info.num_classes,
            training=trial_base,
            steps_per_epoch=steps,
        )
        if retrain and not distributed.is_worker():
            _check_retrainable(hypermodel)
        search = make_tuner(
            hypermodel,
            tuner=tuner,
            objective=objective,
            max_trials=max_trials,
            max_epochs=epochs,
            overrides=overrides,
            directory=directory,
            project_name=project_name,
            overwrite=overwrite,
            seed=seed,
            executions_per_trial=executions_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            verbose=verbose,
        )
        search.search(
            _train_data(bundle, 0, epochs, steps),
            steps_per_epoch=steps,
            epochs=epochs,
            validation_data=bundle.validation,
            shuffle=False,  # the bundle shuffles each epoch by (seed, epoch)
        )
        if distributed.is_worker():
            return TuneResult(project_dir=project_dir)

    results = trial_rows(search)
    paths = write_results(results, project_dir)
    if verbose:
        print(format_table(results))
        print(f"results: {paths['json']}, {paths['csv']}, {paths['png']}")
    out = TuneResult(project_dir=project_dir, results=results, paths=paths)
    if results["best_trial"] is None:
        return out
    best = search.oracle.get_trial(results["best_trial"]).hyperparameters
    out.best_values = dict(best.values)
    if retrain:
        out.final = retrain_best(
            hypermodel,
            best,
            run_dir=project_dir / f"best_trial_{results['best_trial']}",
            epochs=retrain_epochs or (training.epochs if training is not None else epochs),
            base=base,
            verbose=verbose,
        )
        out.test_metrics = {k: out.final.metrics[k] for k in ("test_accuracy", "test_loss")}
        results["retrain"] = {
            "trial": results["best_trial"],
            "run_dir": str(out.final.run_dir),
            "epochs": out.final.metrics.get("epochs_run"),
            **out.test_metrics,
        }
        if verbose:
            acc = out.test_metrics["test_accuracy"]
            print(f"best setting retrained on train + validation: test accuracy {acc:.4f}")
        if export is not None:
            from kzoo.export.from_run import export_run

            out.export_path = export_run(out.final.run_dir, export, root=export_root)
            results["retrain"]["export"] = str(out.export_path)
            if verbose:
                print(f"exported SavedModel: {out.export_path}")
        out.paths = write_results(results, project_dir)
    return out


def _check_retrainable(hypermodel) -> None:
    """Fail before the search if `kzoo.training.train` cannot build the tuned model by name."""
    import keras
    import keras_tuner as kt

    from kzoo.registry import create_model

    kwargs = hypermodel.model_kwargs(kt.HyperParameters())
    try:
        create_model(
            hypermodel.model,
            input_shape=hypermodel.input_shape,
            classes=hypermodel.classes,
            **kwargs,
        )
    except TypeError as err:
        raise ValueError(
            f"The registered builder of model={hypermodel.model!r} does not take the tuned "
            f"arguments {sorted(kwargs)} ({err}), so the best setting cannot be retrained by name; "
            "pass retrain=False (--no-retrain) and retrain with the reported values."
        ) from err
    finally:
        keras.backend.clear_session()


def retrain_best(hypermodel, hp, *, run_dir, epochs: int, base: TrainConfig | None = None, verbose: int = 1):
    """Train the setting `hp` with `kzoo.training.train` on train + validation (validation_split=0)
    and evaluate it once on the test split; returns the `TrainResult`.

    `base` is the full training config (default: the HyperModel's); its schedule is rescaled to
    `epochs` by `schedule_for`. The run directory is named after the trial, so a rerun resumes or
    reloads it.
    """
    from kzoo.training import train

    config = hypermodel.train_config(
        hp,
        base=schedule_for(base or hypermodel.training, epochs),
        run_dir=os.fspath(run_dir),
        validation_split=0.0,
        early_stopping_patience=None,
        verbose=2 if verbose >= 2 else 0,
    )
    return train(config)
