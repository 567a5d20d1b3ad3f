"""`tune`: search, report, retrain the best setting on train + validation, test once.

`tune(TuneConfig)` is a sequence of named steps: check the settings and the search folder, load the
data through the engine's data path, build the HyperModel, refuse a changed search, search, write the
results, retrain the best setting with the engine (`kzoo.training.train`), export it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from kzoo.training.config import TrainConfig
from kzoo.tuning import distributed
from kzoo.tuning.config import TuneConfig
from kzoo.utils.checks import check_int
from kzoo.utils.errors import UserError
from kzoo.utils.files import atomic_write_json, read_json

SEARCH_FILE = "kzoo_search.json"  # the search's settings and fingerprint, beside keras-tuner's


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


class ChangedSearchError(UserError):
    """The search folder holds a search made with other settings."""


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
    check_int("epochs", epochs, 1)
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


def tune(config: TuneConfig | str, dataset: str | None = None, **kwargs) -> TuneResult:
    """Search the hyperparameters of `config.model` on `config.dataset`, write the results table and
    figure, retrain the best setting on train + validation and evaluate it once on the test split.

    Running the same call again after an interruption continues the search: finished trials are
    kept, the interrupted one runs again, then the report and the retraining follow. A larger
    `max_trials` extends a finished search. A search folder made by other settings (space, dataset,
    objective, tuner, trial schedule, base training) is refused unless `overwrite`.

    Args:
        config: a `TuneConfig`; or, in the keyword form, the model name, with `dataset` and the
            `TuneConfig` fields as keywords (`batch_size`, `seed` and `data_dir` set the base
            training config's).

    Returns:
        A `TuneResult`.

    Example:
        >>> result = tune("plain_mlp", "digits", tuner="bayesian", max_trials=20, epochs=10,
        ...               overrides={"optimizer": "adam"})
        >>> result.best_values, result.test_metrics["test_accuracy"]
    """
    if not isinstance(config, TuneConfig):
        config = TuneConfig.from_keywords(config, dataset, **kwargs)
    elif dataset is not None or kwargs:
        raise UserError("tune(TuneConfig) takes no other arguments; set them in the TuneConfig")
    config.validate()
    base = config.base_training()
    distributed.environment(config.role or "chief", host=config.host, port=config.port,
                            tuner_id=config.tuner_id)  # validates
    with _search_lock(config), distributed.role_environment(
        config.role, host=config.host, port=config.port, tuner_id=config.tuner_id
    ):
        bundle, steps = _load_data(config, base)
        hypermodel = _hypermodel(config, base, bundle, steps)
        if config.retrain and not distributed.is_worker():
            _check_retrainable(hypermodel)
        _check_unchanged(config, hypermodel)
        search = _make_search(config, base, hypermodel)
        if config.overwrite and not distributed.is_worker():
            record_search(config, search_space(config, hypermodel))
        _search(config, search, bundle, steps)
        if distributed.is_worker():
            return TuneResult(project_dir=config.project_dir)
        return _report_and_retrain(config, base, search, hypermodel)


@contextlib.contextmanager
def _search_lock(config: TuneConfig):
    """One chief per search folder (workers share the chief's folder and take no lock)."""
    if config.role == "worker":
        yield
        return
    from kzoo.utils.locks import folder_lock

    with folder_lock(config.project_dir, what="search folder"):
        yield


def _load_data(config: TuneConfig, base: TrainConfig):
    """The engine's data bundle: trials train on the training part, scored on `validation_split`."""
    import kzoo.data

    bundle = kzoo.data.load(
        config.dataset,
        batch_size=base.batch_size,
        validation_split=config.validation_split,
        seed=base.seed,
        augment=base.augment,
        data_dir=base.data_dir,
        manual_dir=base.manual_dir,
    )
    steps = bundle.steps_per_epoch
    if base.max_steps_per_epoch is not None:
        steps = min(steps, base.max_steps_per_epoch)
    return bundle, steps


def _hypermodel(config: TuneConfig, base: TrainConfig, bundle, steps: int):
    from kzoo.tuning.hypermodels import hypermodel_for

    return hypermodel_for(
        config.model,
        input_shape=tuple(bundle.info.input_shape),
        classes=bundle.info.num_classes,
        training=schedule_for(base, config.epochs),
        steps_per_epoch=steps,
    )


def _overrides(config: TuneConfig):
    return config.overrides if isinstance(config.overrides, dict) else list(config.overrides)


def _make_search(config: TuneConfig, base: TrainConfig, hypermodel):
    from kzoo.tuning.search import make_tuner

    return make_tuner(
        hypermodel,
        tuner=config.tuner,
        objective=config.objective,
        max_trials=config.max_trials,
        max_epochs=config.epochs,
        overrides=_overrides(config),
        directory=config.directory,
        project_name=config.project_dir.name,
        overwrite=config.overwrite,
        seed=base.seed,
        executions_per_trial=config.executions_per_trial,
        max_consecutive_failed_trials=config.max_consecutive_failed_trials,
        verbose=config.verbose,
    )


def search_space(config: TuneConfig, hypermodel) -> dict:
    """The space the search samples -- the HyperModel's declarations narrowed by the overrides --
    as keras-tuner's JSON config (names, kinds, ranges, samplings)."""
    from kzoo.tuning.space import overrides_to_hyperparameters

    hp = overrides_to_hyperparameters(
        _overrides(config), valid_names=hypermodel.hyperparameter_names()
    )
    hypermodel.model_kwargs(hp)
    hypermodel.training_kwargs(hp)
    return hp.get_config()


def _check_unchanged(config: TuneConfig, hypermodel) -> None:
    """Refuse a search folder made by other settings (before keras-tuner reloads it); check its
    state files; record this search's settings beside them."""
    if distributed.is_worker():
        return
    from kzoo.tuning.state import check_search_folder

    space = search_space(config, hypermodel)
    if config.overwrite:
        return  # make_tuner empties the folder; the settings are recorded after
    check_search_folder(config.project_dir)
    path = config.project_dir / SEARCH_FILE
    fingerprint = config.search_fingerprint(space)
    saved = read_json(path, default=None)
    has_trials = any(config.project_dir.glob("trial_*"))
    if isinstance(saved, dict) and saved.get("fingerprint") != fingerprint and not config.overwrite:
        raise ChangedSearchError(_describe_change(config, saved, space))
    if saved is None and has_trials and not config.overwrite:
        raise ChangedSearchError(
            f"search folder {str(config.project_dir)!r} holds trials but no {SEARCH_FILE}: it was "
            "made by an older kzoo or another program, so kzoo cannot tell whether it is the same "
            "search. Pass --overwrite (overwrite=True) to start afresh, or choose another --project"
        )
    record_search(config, space)


def record_search(config: TuneConfig, space: dict) -> None:
    """Write `kzoo_search.json`: this search's settings, base training config, space, fingerprint."""
    atomic_write_json(config.project_dir / SEARCH_FILE, {
        "fingerprint": config.search_fingerprint(space),
        "search": config.to_dict() | {"training": None},
        "training": config.base_training().to_dict(),
        "space": space,
    })


def _describe_change(config: TuneConfig, saved: dict, space: dict) -> str:
    changes = config.differences(saved.get("search", {}))
    base_changes = config.base_training().differences(saved.get("training", {}))
    shown = [f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(changes.items())]
    shown += [f"training {k}: {old!r} -> {new!r}" for k, (old, new) in sorted(base_changes.items())]
    if saved.get("space") != space and not shown:
        shown.append("the search space (--hp, or the model family's ranges)")
    elif saved.get("space") != space:
        shown.append("the search space")
    return (
        f"search folder {str(config.project_dir)!r} holds a search made with other settings "
        f"({'; '.join(shown) or 'changed'}). Use another --project (project_name), or --overwrite "
        "(overwrite=True) to discard it"
    )


def _search(config: TuneConfig, search, bundle, steps: int) -> None:
    from kzoo.training.engine import train_batches

    search.search(
        train_batches(bundle, 0, config.epochs, steps),
        steps_per_epoch=steps,
        epochs=config.epochs,
        validation_data=bundle.validation,
        shuffle=False,  # the bundle shuffles each epoch by (seed, epoch)
    )


def _report_and_retrain(config: TuneConfig, base: TrainConfig, search, hypermodel) -> TuneResult:
    from kzoo.tuning.results import format_table, trial_rows, write_results

    project_dir = config.project_dir
    results = trial_rows(search)
    paths = write_results(results, project_dir, title=f"{config.model} on {config.dataset}")
    if config.verbose:
        print(format_table(results))
        print(f"results: {paths['json']}, {paths['csv']}, {paths['png']}")
    out = TuneResult(project_dir=project_dir, results=results, paths=paths)
    if results["best_trial"] is None:
        return out
    best = search.oracle.get_trial(results["best_trial"]).hyperparameters
    out.best_values = dict(best.values)
    if not config.retrain:
        return out
    epochs = config.retrain_epochs or base.epochs
    if config.verbose:
        print(f"retraining the best setting (trial {results['best_trial']}) on train + "
              f"validation for {epochs} epochs", flush=True)
    out.final = retrain_best(hypermodel, best, run_dir=project_dir / f"best_trial_{results['best_trial']}",
                             epochs=epochs, base=base, verbose=config.verbose)
    out.test_metrics = {k: out.final.metrics[k] for k in ("test_accuracy", "test_loss")}
    results["retrain"] = {
        "trial": results["best_trial"],
        "run_dir": str(out.final.run_dir),
        "epochs": out.final.metrics.get("epochs_run"),
        **out.test_metrics,
    }
    if config.verbose:
        print(f"best setting retrained: test accuracy {out.test_metrics['test_accuracy']:.4f}")
    if config.export is not None:
        from kzoo.export.from_run import export_run

        if config.verbose:
            print(f"exporting {config.export} (verified against the model before publishing)",
                  flush=True)
        out.export_path = export_run(out.final.run_dir, config.export, root=config.export_root)
        results["retrain"]["export"] = str(out.export_path)
        if config.verbose:
            print(f"exported SavedModel: {out.export_path}")
    out.paths = write_results(results, project_dir, title=f"{config.model} on {config.dataset}")
    return out


def _check_retrainable(hypermodel) -> None:
    """Fail before the search if `kzoo.training.train` cannot build the tuned model by name."""
    import keras
    import keras_tuner as kt

    from kzoo.registry import create_model

    kwargs = hypermodel.model_kwargs(kt.HyperParameters())
    try:
        create_model(hypermodel.model, input_shape=hypermodel.input_shape,
                     classes=hypermodel.classes, **kwargs)
    finally:
        keras.backend.clear_session()


def retrain_best(hypermodel, hp, *, run_dir, epochs: int, base: TrainConfig | None = None,
                 verbose: int = 1):
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
