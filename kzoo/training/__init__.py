"""The training engine: `train(TrainConfig(...))` with resumable run directories.

Names load on first use (`TrainConfig` needs no TensorFlow; `train` does).

Example:
    >>> from kzoo.training import TrainConfig, train
    >>> result = train(TrainConfig(model="plain_cnn", dataset="digits", run_dir="runs/quick", epochs=5))
"""

from kzoo.utils.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "kzoo.training.config": ("OPTIMIZERS", "SCHEDULES", "TrainConfig"),
        "kzoo.training.diagnostics": ("DiagnosticsCallback", "layer_diagnostics"),
        "kzoo.training.engine": (
            "TrainResult", "TrainingInterrupted", "train", "compile_for_training", "train_batches",
        ),
        "kzoo.training.optimizers": (
            "InverseSqrtDecay", "LinearWarmup", "make_optimizer", "make_schedule",
        ),
        "kzoo.training.regularization": ("with_kernel_l2",),
    },
)
