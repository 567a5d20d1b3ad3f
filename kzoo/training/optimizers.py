"""Optimisers and learning-rate schedules, indexed by optimisation step t (the optimiser's iterations)."""

from __future__ import annotations

import keras
from keras import ops

# The schedules are serialisable Keras objects, beside the layers (a saved optimiser names them).
from kzoo.layers.schedules import InverseSqrtDecay, LinearWarmup  # noqa: F401


def make_schedule(config, steps_per_epoch: int):
    """The learning rate of `config` (a float, or a schedule over optimisation steps).

    Milestones are epochs: a multistep decay at epoch m takes effect from the first step of epoch m.
    """
    lr = float(config.learning_rate)
    total_steps = config.epochs * steps_per_epoch
    if config.schedule == "constant":
        schedule = lr
    elif config.schedule == "multistep":
        # PiecewiseConstantDecay keeps values[i] while step <= boundaries[i]; the step index of the
        # first step of epoch m is m * steps_per_epoch, so the boundary is one step before it.
        boundaries = [m * steps_per_epoch - 1 for m in config.milestones]
        values = [lr * config.gamma**i for i in range(len(boundaries) + 1)]
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    elif config.schedule == "cosine" and getattr(config, "snapshots", 0):
        # Snapshot ensembles: equal cycles, each restarting at the full rate (SGDR, t_mul = m_mul = 1).
        schedule = keras.optimizers.schedules.CosineDecayRestarts(
            lr, first_decay_steps=(config.epochs // config.snapshots) * steps_per_epoch,
            t_mul=1.0, m_mul=1.0, alpha=config.min_learning_rate / lr,
        )
    elif config.schedule == "cosine":
        schedule = keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=max(1, total_steps - 1), alpha=config.min_learning_rate / lr
        )
    elif config.schedule == "inverse_sqrt":
        schedule = InverseSqrtDecay(lr)
    else:  # validated by TrainConfig; kept for direct callers
        raise ValueError(f"Unknown schedule={config.schedule!r}.")
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    if warmup_steps >= 1:
        schedule = LinearWarmup(schedule, warmup_steps)
    return schedule


def make_optimizer(config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimiser of `config` with its schedule; decoupled weight decay is set here (if chosen).

    Decoupled decay (`weight_decay_mode="decoupled"`) uses Keras' own optimiser `weight_decay`
    (w <- w - lr * lambda * w each step); `decay_only_kernels` restricts it to kernels.
    """
    lr = make_schedule(config, steps_per_epoch)
    wd = (
        float(config.weight_decay)
        if config.decay_mode == "decoupled" and config.weight_decay
        else None
    )
    name = config.optimizer
    common = {}
    if getattr(config, "weight_averaging", None) == "ema":  # Keras' own moving average
        common = {"use_ema": True, "ema_momentum": float(config.ema_momentum)}
    if name in ("sgd", "momentum", "nesterov"):
        momentum = 0.0 if name == "sgd" else float(config.momentum)
        return keras.optimizers.SGD(
            lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=wd, **common
        )
    if name == "adagrad":
        return keras.optimizers.Adagrad(lr, weight_decay=wd, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd, **common)
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd, **common)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=wd or 0.0, **common)
    raise ValueError(f"Unknown optimizer={name!r}.")


def decay_only_kernels(optimizer: keras.optimizers.Optimizer, model: keras.Model) -> None:
    """Exclude biases and normalisation scales/offsets (rank < 2) from the optimiser's weight decay."""
    for inner in getattr(optimizer, "optimizers", None) or [optimizer]:  # a MultiOptimizer's too
        if inner.weight_decay:
            inner.exclude_from_weight_decay(
                var_list=[v for v in model.trainable_variables if len(v.shape) < 2]
            )


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimiser will use at its next step (a MultiOptimizer's: that of
    its default optimiser, the classifier's in a fine-tuning run)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's
    if isinstance(optimizer, keras.optimizers.MultiOptimizer):
        # `kzoo.training.transfer.backbone_optimizer` maps the backbone first, so its default
        # (classifier) optimiser comes last.
        optimizer = optimizer.optimizers[-1]
    return float(ops.convert_to_numpy(optimizer.learning_rate))
