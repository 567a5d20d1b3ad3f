"""kzoo's learning-rate schedules, registered for safe loading like the layers."""

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
