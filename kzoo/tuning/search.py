"""Tuner choice, resume and failed trials.

`make_tuner` returns one of keras-tuner's four tuners (random search, Bayesian optimisation, Hyperband,
grid search) with four additions made by `_ZooTunerMixin`:

- every trial trains with `keras.callbacks.TerminateOnNaN`, and a trial whose loss or objective is not
  finite raises `keras_tuner.errors.FailedTrialError`, so the oracle records it as FAILED and the
  search goes on (keras-tuner alone would score a diverged net by its last, meaningless accuracy);
- each trial reports its wall time (`trial_seconds`) and epochs next to its metrics;
- with `seed`, trial *i* starts from `keras.utils.set_random_seed(seed + i)`;
- the oracle writes its state files atomically and checks them before a resume
  (`kzoo.tuning.state`), so a kill at any instant leaves a search that resumes.

Resume is keras-tuner's: the same `directory`/`project_name` with `overwrite=False` reloads the oracle;
finished trials are never run again, and the trial that was running when the process died is run again.
"""

from __future__ import annotations

import math
import time

import keras
import keras_tuner as kt
import numpy as np

from kzoo.tuning import distributed, state
from kzoo.tuning.space import OBJECTIVES, TUNERS, overrides_to_hyperparameters
from kzoo.utils.checks import check_positive_int
from kzoo.utils.errors import SettingError

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
    """Adds NaN handling, trial timing and seeding to a keras-tuner Tuner (see the module doc), and
    gives it kzoo's oracle of the same algorithm (`kzoo.tuning.state`: atomic state files)."""

    oracle_class: type = state.RandomSearchOracle

    def __init__(self, hypermodel, *, oracle_kwargs: dict, trial_seed=None, **kwargs):
        self.trial_seed = trial_seed
        self.fit_verbose = 0
        self.progress = False
        self._trial_seconds: list[float] = []
        oracle = self.oracle_class(**oracle_kwargs)
        # kt.Tuner's constructor, not the algorithm's: those only build their oracle.
        kt.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)

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
        self._trial_seconds.append(seconds)
        return metrics

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.progress:
            print(progress_line(self.oracle, trial, self._trial_seconds), flush=True)


class RandomSearch(_ZooTunerMixin, kt.Tuner):
    """keras-tuner's random search with kzoo's NaN handling, trial timing and atomic state."""

    oracle_class = state.RandomSearchOracle


class BayesianOptimization(_ZooTunerMixin, kt.Tuner):
    """keras-tuner's Bayesian optimisation with kzoo's NaN handling, timing and atomic state."""

    oracle_class = state.BayesianOptimizationOracle


class Hyperband(_ZooTunerMixin, kt.Hyperband):
    """keras-tuner's Hyperband (its tuner class: it trains each trial for its bracket's budget)
    with kzoo's NaN handling, trial timing and atomic state."""

    oracle_class = state.HyperbandOracle


class GridSearch(_ZooTunerMixin, kt.Tuner):
    """keras-tuner's grid search with kzoo's NaN handling, trial timing and atomic state."""

    oracle_class = state.GridSearchOracle


_CLASSES = {
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "grid": GridSearch,
}


def progress_line(oracle, trial, seconds: list[float]) -> str:
    """`trial 3 of 10: val_accuracy 0.9444 (learning_rate=0.0123) in 12 s; about 1 min left`."""
    trials = getattr(oracle, "trials", None)
    if trials is None:  # a worker's OracleClient: the chief alone knows every trial
        done, total = None, None
        head = f"trial {trial.trial_id}"
    else:
        done = sum(1 for t in trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID"))
        total = getattr(oracle, "max_trials", None)
        head = f"trial {done} of {total}" if total else f"trial {done}"
    values = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in trial.hyperparameters.values.items()
        if not k.startswith("tuner/")
    )
    if trial.score is not None and trial.status in ("COMPLETED", "RUNNING"):
        result = f"{oracle.objective.name} {trial.score:.4f}"
    else:
        result = trial.status.lower()
    took = f" in {seconds[-1]:.0f} s" if seconds else ""
    left = ""
    if total and seconds and done < total:
        remaining = (total - done) * sum(seconds) / len(seconds)
        left = f"; about {_duration(remaining)} left"
    return f"  {head}: {result} ({values}){took}{left}"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def check_search_args(tuner, objective, max_trials, max_epochs, max_consecutive_failed_trials=5):
    """Raise ValueError naming the first search argument `make_tuner` would refuse."""
    if tuner not in _CLASSES:
        raise ValueError(f"`tuner` must be one of {TUNERS}; received tuner={tuner!r}.")
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {OBJECTIVES}; received objective={objective!r}.")
    if tuner != "hyperband" and not (max_trials is None and tuner == "grid"):
        if max_trials is None:
            raise SettingError("{max_trials} must be an integer >= 1 (None only for grid)",
                               names=("max_trials",), value=None)
        check_positive_int("max_trials", max_trials)
    check_positive_int("max_epochs", max_epochs)
    check_positive_int("max_consecutive_failed_trials", max_consecutive_failed_trials)


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
    oracle_kwargs = dict(
        objective=objective,
        seed=seed,
        hyperparameters=hyperparameters,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
    )
    if tuner == "hyperband":
        oracle_kwargs["max_epochs"] = max_epochs
    else:
        oracle_kwargs["max_trials"] = max_trials
    t = _CLASSES[tuner](
        hypermodel,
        oracle_kwargs=oracle_kwargs,
        trial_seed=seed,
        directory=str(directory),
        project_name=project_name,
        # A worker must never delete the project the chief and the other workers share.
        overwrite=overwrite and not distributed.is_worker(),
        executions_per_trial=executions_per_trial,
    )
    # verbose=1: one line per trial (kzoo's); verbose=2: keras-tuner's report and epoch lines too.
    t.oracle.verbose = 1 if verbose >= 2 else 0
    t.progress = verbose >= 1
    t.fit_verbose = 2 if verbose >= 2 else 0
    return t
