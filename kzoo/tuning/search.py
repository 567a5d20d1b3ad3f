"""Tuner choice, resume and failed trials.

`make_tuner` returns one of keras-tuner's four tuners (random search, Bayesian optimisation, Hyperband,
grid search) with three additions made by `_ZooTunerMixin`:

- every trial trains with `keras.callbacks.TerminateOnNaN`, and a trial whose loss or objective is not
  finite raises `keras_tuner.errors.FailedTrialError`, so the oracle records it as FAILED and the
  search goes on (keras-tuner alone would score a diverged net by its last, meaningless accuracy);
- each trial reports its wall time (`trial_seconds`) and epochs next to its metrics;
- with `seed`, trial *i* starts from `keras.utils.set_random_seed(seed + i)`.

Resume is keras-tuner's: the same `directory`/`project_name` with `overwrite=False` reloads the oracle;
finished trials are never run again, and the trial that was running when the process died is run again.
"""

from __future__ import annotations

import math
import time

import keras
import keras_tuner as kt
import numpy as np

from kzoo.tuning import distributed
from kzoo.tuning.space import OBJECTIVES, TUNERS, overrides_to_hyperparameters

SECONDS = "trial_seconds"
EPOCHS = "trial_epochs"


def _history_metrics(history: keras.callbacks.History, objective: kt.Objective) -> dict:
    """All metrics at the epoch with the best objective value."""
    values = history.history.get(objective.name)
    if not values:
        raise kt.errors.FailedTrialError(
            f"The objective {objective.name!r} is not among the trial's metrics "
            f"{sorted(history.history)}; is there validation data?"
        )
    pick = np.nanargmax if objective.direction == "max" else np.nanargmin
    finite = np.isfinite(values)
    best = int(pick(np.where(finite, values, np.nan))) if finite.any() else len(values) - 1
    return {name: float(v[best]) for name, v in history.history.items() if len(v) > best}


class _ZooTunerMixin:
    """Adds NaN handling, trial timing and seeding to a keras-tuner Tuner (see the module doc)."""

    def __init__(self, *args, trial_seed=None, **kwargs):
        self.trial_seed = trial_seed
        self.fit_verbose = 0
        super().__init__(*args, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        if self.trial_seed is not None:
            keras.utils.set_random_seed(self.trial_seed + int(trial.trial_id))
        kwargs.setdefault("verbose", self.fit_verbose)
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), keras.callbacks.TerminateOnNaN()]
        start = time.perf_counter()
        results = super().run_trial(trial, *args, **kwargs)
        seconds = time.perf_counter() - start
        histories = results if isinstance(results, list) else [results]
        objective = self.oracle.objective
        runs = []
        for history in histories:
            losses = history.history.get("loss", [])
            if not all(math.isfinite(v) for v in losses):
                raise kt.errors.FailedTrialError(
                    f"Training diverged: loss became {losses[-1]} at epoch {len(losses)} "
                    "(TerminateOnNaN stopped it)."
                )
            runs.append(_history_metrics(history, objective))
        metrics = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        if not math.isfinite(metrics[objective.name]):
            raise kt.errors.FailedTrialError(f"{objective.name} is {metrics[objective.name]}.")
        metrics[SECONDS] = seconds
        metrics[EPOCHS] = float(max(len(h.history.get("loss", [])) for h in histories))
        return metrics


class RandomSearch(_ZooTunerMixin, kt.RandomSearch):
    """`keras_tuner.RandomSearch` with kzoo's NaN handling and trial timing."""


class BayesianOptimization(_ZooTunerMixin, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with kzoo's NaN handling and trial timing."""


class Hyperband(_ZooTunerMixin, kt.Hyperband):
    """`keras_tuner.Hyperband` with kzoo's NaN handling and trial timing."""


class GridSearch(_ZooTunerMixin, kt.GridSearch):
    """`keras_tuner.GridSearch` with kzoo's NaN handling and trial timing."""


_CLASSES = {
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "grid": GridSearch,
}


def check_search_args(tuner, objective, max_trials, max_epochs, max_consecutive_failed_trials=5):
    """Raise ValueError naming the first search argument `make_tuner` would refuse."""
    if tuner not in _CLASSES:
        raise ValueError(f"`tuner` must be one of {TUNERS}; received tuner={tuner!r}.")
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {OBJECTIVES}; received objective={objective!r}.")
    if tuner != "hyperband" and not (
        (max_trials is None and tuner == "grid")
        or (isinstance(max_trials, int) and not isinstance(max_trials, bool) and max_trials >= 1)
    ):
        raise ValueError(
            f"`max_trials` must be an integer >= 1 (None only for grid); received max_trials={max_trials!r}."
        )
    for name, value in (
        ("max_epochs", max_epochs),
        ("max_consecutive_failed_trials", max_consecutive_failed_trials),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1; received {name}={value!r}.")


def make_tuner(
    hypermodel,
    *,
    tuner: str = "random",
    objective: str = "val_accuracy",
    max_trials: int | None = 10,
    max_epochs: int = 10,
    overrides=None,
    directory: str = "tuning",
    project_name: str = "search",
    overwrite: bool = False,
    seed: int | None = 0,
    executions_per_trial: int = 1,
    max_consecutive_failed_trials: int = 5,
    verbose: int = 0,
) -> kt.Tuner:
    """A keras-tuner tuner over `hypermodel`'s search space.

    Args:
        hypermodel: a `ZooHyperModel` (or any `keras_tuner.HyperModel`).
        tuner: "random", "bayesian", "hyperband" or "grid".
        objective: "val_accuracy" (maximised) or "val_loss" (minimised).
        max_trials: number of trials (random, bayesian; grid: at most, None = the whole grid).
            Hyperband sizes itself from `max_epochs` instead.
        max_epochs: Hyperband's largest training budget per trial.
        overrides: pins or narrows entries of the search space (see `kzoo.tuning.space`).
        directory, project_name: where keras-tuner keeps the oracle and the trials.
        overwrite: start afresh; False resumes an existing search in the same place.
        seed: seed of the oracle and of each trial's initialisation (None: random).
        executions_per_trial: trainings per trial (their metrics are averaged).
        max_consecutive_failed_trials: the search stops (RuntimeError) after this many failed
            trials in a row -- a broken set-up should not burn the whole budget.
        verbose: 0 silent, 1 keras-tuner's per-trial summary, 2 also one line per epoch.

    Example:
        >>> hm = hypermodel_for("plain_mlp", input_shape=(64,), classes=10)
        >>> t = make_tuner(hm, tuner="bayesian", max_trials=20, overrides={"dropout": 0.0})
    """
    check_search_args(tuner, objective, max_trials, max_epochs, max_consecutive_failed_trials)
    names = hypermodel.hyperparameter_names() if hasattr(hypermodel, "hyperparameter_names") else None
    hyperparameters = overrides_to_hyperparameters(overrides, valid_names=names)
    kwargs = dict(
        hypermodel=hypermodel,
        objective=objective,
        seed=seed,
        hyperparameters=hyperparameters,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        directory=str(directory),
        project_name=project_name,
        # A worker must never delete the project the chief and the other workers share.
        overwrite=overwrite and not distributed.is_worker(),
        executions_per_trial=executions_per_trial,
        trial_seed=seed,
    )
    if tuner == "hyperband":
        kwargs["max_epochs"] = max_epochs
    else:
        kwargs["max_trials"] = max_trials
    t = _CLASSES[tuner](**kwargs)
    t.oracle.verbose = 1 if verbose else 0
    t.fit_verbose = 2 if verbose >= 2 else 0
    return t
