"""Weight averaging: the exponential moving average (EMA) of the weights and stochastic weight
averaging (SWA), with batch normalisation statistics recomputed for the averaged weights.

- EMA is Keras' own: the optimiser's `use_ema=True, ema_momentum=m` keeps a = m a + (1 - m) w after
  every step and `fit` ends by copying the averages into the model (`finalize_variable_values`).
- SWA (Izmailov et al. 2018) averages the weights at the end of each epoch from `swa_start` of
  the training on, with equal weights: a_n = a_{n-1} + (w - a_{n-1}) / n. Keras has no SWA
  (TensorFlow Addons' `SWA` optimiser is gone with Addons), hence `StochasticWeightAveraging`.

Both keep their averages as *optimiser variables* (Keras' EMA slots; the SWA averages and count
added to the optimiser before a checkpoint is restored), so the run's checkpoint -- weights and
optimiser state in one file whose sha256 its metadata records -- covers them: a resumed run
continues the same averages, bit for bit.

An average of weights is not a network whose batch-norm statistics anyone measured: its moving
mean and variance are recomputed at the end with one pass over the training data (epoch 0's
batches), each batch weighted equally (momentum 1 - 1/k at the k-th batch), as SWA's `bn_update`
does. Frozen batch norms (`trainable=False`) keep theirs.
"""

from __future__ import annotations

import keras
import numpy as np


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Average the trainable weights at the end of every epoch from `start_epoch` on.

    Place it before the checkpoint callback: its variables must exist before a checkpoint is
    restored, and each epoch's average must be in the checkpoint saved after that epoch.

    Args:
        start_epoch: the first epoch (0-based) whose end weights enter the average.

    Reference:
        Izmailov, Podoprikhin, Garipov, Vetrov, Wilson, "Averaging Weights Leads to Wider Optima
        and Better Generalization", UAI 2018 (arXiv:1803.05407).
    """

    def __init__(self, start_epoch: int):
        super().__init__()
        self.start_epoch = int(start_epoch)
        self.averages = None
        self.count = None

    def on_train_begin(self, logs=None):
        self.ensure_variables()

    def ensure_variables(self) -> None:
        """Create the averages and their count in the optimiser (once)."""
        if self.averages is not None:
            return
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.averages = [
            optimizer.add_variable_from_reference(v, name="swa_average")
            for v in self.model.trainable_variables
        ]
        self.count = optimizer.add_variable((), initializer="zeros", dtype="float32",
                                            name="swa_count")

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch:
            return
        n = float(keras.ops.convert_to_numpy(self.count)) + 1.0
        for average, variable in zip(self.averages, self.model.trainable_variables, strict=True):
            average.assign(average + (keras.ops.cast(variable, average.dtype) - average) / n)
        self.count.assign(n)

    def apply(self) -> int:
        """Copy the averages into the model; return how many epochs they average (0: none yet,
        the model is left as it is)."""
        n = int(keras.ops.convert_to_numpy(self.count))
        if n:
            for average, variable in zip(self.averages, self.model.trainable_variables,
                                         strict=True):
                variable.assign(keras.ops.cast(average, variable.dtype))
        return n


def batch_norm_layers(model) -> list:
    """Every trainable BatchNormalization layer in `model`, nested blocks included, once each."""
    found, seen = [], set()

    def visit(value):
        if isinstance(value, keras.layers.Layer):
            if id(value) in seen:
                return
            seen.add(id(value))
            if isinstance(value, keras.layers.BatchNormalization) and value.trainable:
                found.append(value)
            for child in vars(value).values():
                visit(child)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for layer in model.layers:
        visit(layer)
    return found


def recompute_batch_norm(model, batches) -> int:
    """Set every trainable batch norm's moving statistics to the mean over `batches` of each
    batch's statistics under the current weights; return the number of batches used."""
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    momentum = {id(layer): layer.momentum for layer in layers}
    count = 0
    try:
        for x, *_ in batches:
            count += 1
            for layer in layers:  # read by the layer at each (eager) call
                layer.momentum = 1.0 - 1.0 / count
            model(x, training=True)
    finally:
        for layer in layers:
            layer.momentum = momentum[id(layer)]
    return count


def finish(model, config, swa: StochasticWeightAveraging | None, batches, *, after_fit: bool) -> dict:
    """Put the averaged weights into `model` and recompute its batch-norm statistics.

    Args:
        model: the trained model (its optimiser holds the averages).
        config: the run's TrainConfig.
        swa: the SWA callback of the run (None for EMA).
        batches: a function returning the training batches for the batch-norm pass.
        after_fit: `fit` ran and already applied the EMA (`finalize_variable_values`); False when
            a finished checkpoint was restored without training.

    Returns:
        What metrics.json records: the method, the epochs averaged (SWA), the batches used.
    """
    if config.weight_averaging is None:
        return {}
    out = {"weight_averaging": config.weight_averaging}
    if config.weight_averaging == "ema":
        if not after_fit:
            model.optimizer.finalize_variable_values(model.trainable_weights)
    else:
        out["swa_epochs_averaged"] = swa.apply()
    out["batch_norm_batches"] = recompute_batch_norm(model, batches())
    return out


def swa_start_epoch(config) -> int:
    """The first epoch (0-based) SWA averages: `swa_start` of the way through training."""
    return int(np.floor(config.swa_start * config.epochs))
