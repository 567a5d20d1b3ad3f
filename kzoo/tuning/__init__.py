"""Hyperparameter search with keras-tuner: HyperModels per family, the search driver, results.

Names are loaded on first use, so the `kzoo` command line can import `kzoo.tuning.command` without
importing keras-tuner.

Example:
    >>> from kzoo.tuning import tune
    >>> result = tune("plain_mlp", "digits", tuner="random", max_trials=10, epochs=10)
"""

import importlib

_EXPORTS = {
    "kzoo.tuning.config": ("TuneConfig",),
    "kzoo.tuning.driver": ("TuneResult", "retrain_best", "schedule_for", "tune"),
    "kzoo.tuning.hypermodels": (
        "DenseNetHyperModel",
        "HighwayMLPHyperModel",
        "Knob",
        "PlainCNNHyperModel",
        "PlainMLPHyperModel",
        "ResNetHyperModel",
        "ResidualMLPHyperModel",
        "SNNHyperModel",
        "WideResNetHyperModel",
        "ZooHyperModel",
        "hypermodel_for",
    ),
    "kzoo.tuning.results": ("format_table", "plot_results", "trial_rows", "write_results"),
    "kzoo.tuning.search": ("make_tuner",),
    "kzoo.tuning.space": (
        "DEPTH",
        "DROPOUT",
        "GROWTH_RATE",
        "LEARNING_RATE",
        "OBJECTIVES",
        "OPTIMIZER",
        "TUNERS",
        "WIDEN_FACTOR",
        "WIDTH",
        "WIDEN_FACTOR",
        "overrides_to_hyperparameters",
        "parse_override",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'kzoo.tuning' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
