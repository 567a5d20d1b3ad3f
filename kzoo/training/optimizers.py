"""Optimisers and learning-rate schedules, indexed by optimisation step t (the optimiser's iterations)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class InverseSqrtDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The lecture's "1/t decay": eta_t = eta / sqrt(t / decay_steps + 1).

    Keras' `InverseTimeDecay` divides by (1 + rate * t), without the square root, hence this class.

    Args:
        initial_learning_rate: eta.
        decay_steps: optimisation steps per unit of t (1: t counts steps, as in the lecture).

    Example:
        >>> schedule = InverseSqrtDecay(0.1)   # 0.1, 0.0707, 0.0577, ...
    """

    def __init__(self, initial_learning_rate, decay_steps=1):
        if not initial_learning_rate > 0:
            raise ValueError(
                f"`initial_learning_rate` must be > 0; received {initial_learning_rate!r}."
            )
        if not decay_steps > 0:
            raise ValueError(f"`decay_steps` must be > 0; received decay_steps={decay_steps!r}.")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps

    def __call__(self, step):
        t = ops.cast(step, "float32") / self.decay_steps
        return self.initial_learning_rate / ops.sqrt(t + 1.0)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
        }


@keras.saving.register_keras_serializable(package="kzoo")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up in front of any schedule: eta_t = schedule(t) * min(1, (t + 1) / warmup_steps).

    Keras' `CosineDecay` has a warm-up of its own but the other schedules do not, hence this wrapper.

    Args:
        schedule: the wrapped `LearningRateSchedule` (or a float for a constant rate).
        warmup_steps: number of steps over which the factor rises from 1/warmup_steps to 1.

    Example:
        >>> schedule = LinearWarmup(keras.optimizers.schedules.CosineDecay(0.1, 10_000), 500)

    Reference:
        Goyal et al. "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour." 2017.
    """

    def __init__(self, schedule, warmup_steps):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        if not warmup_steps >= 1:
            raise ValueError(
                f"`warmup_steps` must be >= 1; received warmup_steps={warmup_steps!r}."
            )
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        factor = ops.minimum(1.0, (step + 1.0) / float(self.warmup_steps))
        base = self.schedule(step) if callable(self.schedule) else self.schedule
        return base * factor

    def get_config(self):
        schedule = self.schedule
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            schedule = keras.optimizers.schedules.serialize(schedule)
        return {"schedule": schedule, "warmup_steps": self.warmup_steps}


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
    if name in ("sgd", "momentum", "nesterov"):
        momentum = 0.0 if name == "sgd" else float(config.momentum)
        return keras.optimizers.SGD(
            lr, momentum=momentum, nesterov=name == "nesterov", weight_decay=wd
        )
    if name == "adagrad":
        return keras.optimizers.Adagrad(lr, weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd)
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=wd or 0.0)
    raise ValueError(f"Unknown optimizer={name!r}.")


def decay_only_kernels(optimizer: keras.optimizers.Optimizer, model: keras.Model) -> None:
    """Exclude biases and normalisation scales/offsets (rank < 2) from the optimiser's weight decay."""
    if optimizer.weight_decay:
        optimizer.exclude_from_weight_decay(
            var_list=[v for v in model.trainable_variables if len(v.shape) < 2]
        )


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimiser will use at its next step."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))
