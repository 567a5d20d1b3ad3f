"""The per-trial progress line, on the chief (which knows every trial) and on a worker."""

from types import SimpleNamespace

import keras_tuner as kt

from kzoo.tuning.search import progress_line


def _trial(trial_id, status, score, **values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return SimpleNamespace(trial_id=trial_id, status=status, score=score, hyperparameters=hp)


def test_the_chief_counts_trials_and_estimates_the_time_left():
    trials = {"0": _trial("0", "COMPLETED", 0.5), "1": _trial("1", "COMPLETED", 0.75, lr=0.0123)}
    oracle = SimpleNamespace(trials=trials, max_trials=4, objective=kt.Objective("val_accuracy", "max"))
    line = progress_line(oracle, trials["1"], [10.0, 14.0])
    # 2 of 4 done at 12 s a trial on average: 24 s left.
    assert line == "  trial 2 of 4: val_accuracy 0.7500 (lr=0.0123) in 14 s; about 24 s left"


class _WorkerOracle:
    """What a worker holds: keras-tuner's OracleClient, which forwards only a few attributes."""

    objective = kt.Objective("val_accuracy", "max")
    max_trials = 4

    def __getattr__(self, name):
        raise AttributeError(f'`OracleClient` object has no attribute "{name}"')


def test_a_worker_names_its_trial_without_counting_the_others():
    line = progress_line(_WorkerOracle(), _trial("3", "RUNNING", 0.875, width=64), [7.0])
    assert line == "  trial 3: val_accuracy 0.8750 (width=64) in 7 s"
    failed = progress_line(_WorkerOracle(), _trial("5", "FAILED", None, width=64), [])
    assert failed == "  trial 5: failed (width=64)"
