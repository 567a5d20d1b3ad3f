"""The training engine: `train(TrainConfig(...))` with resumable run directories.

Example:
    >>> from kzoo.training import TrainConfig, train
    >>> result = train(TrainConfig(model="plain_cnn", dataset="digits", run_dir="runs/quick", epochs=5))
"""

from kzoo.training.config import OPTIMIZERS, SCHEDULES, TrainConfig
from kzoo.training.diagnostics import DiagnosticsCallback, layer_diagnostics
from kzoo.training.engine import TrainResult, train
from kzoo.training.optimizers import InverseSqrtDecay, LinearWarmup, make_optimizer, make_schedule
from kzoo.training.regularization import with_kernel_l2

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "DiagnosticsCallback",
    "InverseSqrtDecay",
    "LinearWarmup",
    "TrainConfig",
    "TrainResult",
    "layer_diagnostics",
    "make_optimizer",
    "make_schedule",
    "train",
    "with_kernel_l2",
]
