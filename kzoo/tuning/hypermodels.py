"""keras-tuner HyperModels for the kzoo families.

A HyperModel maps `hp` values to two dictionaries and nothing else: the builder's keyword arguments
(`model_kwargs`) and the training arguments (`training_kwargs`: the `TrainConfig` fields `optimizer` and
`learning_rate`). The network always comes from `kzoo.create_model` or a family builder -- no block code
is copied into the tuner (keras-tuner's own HyperResNet does that, and drifts from the real model).
The optimiser comes from the training engine's `make_optimizer`, and the loss, labels and precision
are the engine's (one-hot labels, `CategoricalCrossentropy(label_smoothing)`, the `mixed_precision`
policy), so a trial trains the way `kzoo.training.train` does with the `training` base config.

Which HyperModel tunes a model, and where each knob's search starts, is read from the model's registry
entry (its family and the variant's arguments, `kzoo.models.catalog`): no name is parsed and no builder
default is repeated here. Every knob is declared under a name from `kzoo.tuning.space`; a knob a family
does not search is declared `hp.Fixed` at the model's value, so it shows in the results and can still be
overridden. Trials are compiled by the engine's own `compile_for_training`.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass

import keras
import keras_tuner as kt

from kzoo.registry import create_model, get_entry
from kzoo.training.config import TrainConfig
from kzoo.training.engine import compile_for_training
from kzoo.training.precision import precision_policy
from kzoo.tuning.space import (
    DEPTH,
    DROPOUT,
    GROWTH_RATE,
    LEARNING_RATE,
    OPTIMIZER,
    WIDEN_FACTOR,
    WIDTH,
)
from kzoo.utils.checks import check_int


@dataclass(frozen=True)
class Knob:
    """How one builder argument is searched.

    The search starts at the model's own value of the argument: the base config's `model_kwargs`,
    else the registered variant's argument, else the family builder's default -- the knob repeats
    none of them.

    Args:
        name: the hyperparameter name (a `kzoo.tuning.space` constant).
        kwarg: the builder's keyword argument it sets.
        low, high, step: the search range (widened to include the starting value); `low=None`
            declares `hp.Fixed(name, start)`.
        kind: `int` or `float`.
    """

    name: str
    kwarg: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    kind: type = int

    def declare(self, hp: kt.HyperParameters, start):
        cast = self.kind
        if self.low is None:
            return cast(hp.Fixed(self.name, cast(start)))
        low, high = min(self.low, start), max(self.high, start)
        if cast is int:
            return int(hp.Int(self.name, int(low), int(high), step=self.step, default=int(start)))
        return float(hp.Float(self.name, float(low), float(high), step=self.step,
                              default=float(start)))


def _rate(high=0.5, step=0.1):
    return Knob(DROPOUT, "dropout", 0.0, high, step, kind=float)


class ZooHyperModel(kt.HyperModel):
    """Base HyperModel: `hp` -> builder keyword arguments + training arguments -> compiled model.

    Subclasses list their `knobs`, `optimizers` and `learning_rate` range; `create` builds the net.

    Args:
        model: a registered model name (`kzoo.list_models()`).
        input_shape: input shape without the batch axis, e.g. `(8, 8, 1)`.
        classes: number of classes of the softmax head.
        training: the base `TrainConfig` of the trials (momentum, weight decay, schedule, label
            smoothing, precision, ...); None: the engine's defaults. The tuned fields replace its
            values; its `model_kwargs` for a knob's argument (e.g. a recipe's `dropout=0.3`)
            become that knob's default.
        steps_per_epoch: optimisation steps per epoch (for schedules and warm-up).
        name, tunable: as in `keras_tuner.HyperModel`.

    Example:
        >>> hm = hypermodel_for("densenet_40_12", input_shape=(32, 32, 3), classes=10)
        >>> model = hm.build(keras_tuner.HyperParameters())

    Reference:
        O'Malley et al. "KerasTuner." 2019, https://github.com/keras-team/keras-tuner
    """

    knobs: tuple[Knob, ...] = ()
    #: optimiser names (`kzoo.training.OPTIMIZERS`); one name is a fixed optimiser.
    optimizers: tuple[str, ...] = ("momentum",)
    #: (min, max, default) of the log-sampled learning rate.
    learning_rate: tuple[float, float, float] = (1e-3, 0.3, 0.05)

    def __init__(
        self,
        model: str,
        *,
        input_shape,
        classes,
        training: TrainConfig | None = None,
        steps_per_epoch: int = 1,
        name=None,
        tunable=True,
    ):
        entry = get_entry(model)  # an unknown name raises with close matches
        if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape
        ):
            raise ValueError(
                "`input_shape` must be a tuple of positive integers without the batch axis, e.g. "
                f"(8, 8, 1); received input_shape={input_shape!r}."
            )
        check_int("classes", classes, 2)
        if training is not None and not isinstance(training, TrainConfig):
            raise ValueError(f"`training` must be a TrainConfig or None; received {training!r}.")
        check_int("steps_per_epoch", steps_per_epoch, 1)
        super().__init__(name=name, tunable=tunable)
        self.model = model
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.training = training or TrainConfig(model=model, dataset="", run_dir="")
        self.defaults = {k.kwarg: _start(entry, k.kwarg, self.training) for k in self.knobs}
        self.steps_per_epoch = steps_per_epoch

    def model_kwargs(self, hp: kt.HyperParameters) -> dict:
        """The builder's keyword arguments for the values in `hp`."""
        return {k.kwarg: k.declare(hp, self.defaults[k.kwarg]) for k in self.knobs}

    def training_kwargs(self, hp: kt.HyperParameters) -> dict:
        """`{"optimizer": name, "learning_rate": float}` (`TrainConfig` fields) for `hp`."""
        if len(self.optimizers) > 1:
            optimizer = hp.Choice(OPTIMIZER, list(self.optimizers))
        else:
            optimizer = hp.Fixed(OPTIMIZER, self.optimizers[0])
        lo, hi, default = self.learning_rate
        lr = hp.Float(LEARNING_RATE, lo, hi, sampling="log", default=default)
        return {"optimizer": optimizer, "learning_rate": float(lr)}

    def train_config(self, hp: kt.HyperParameters, base: TrainConfig | None = None, **changes) -> TrainConfig:
        """The `TrainConfig` that trains the setting `hp` with `kzoo.training.train`: `base`
        (default: `training`) with the tuned fields and `changes`."""
        base = base or self.training
        return dataclasses.replace(
            base,
            model=self.model,
            model_kwargs={**base.model_kwargs, **self.model_kwargs(hp)},
            **self.training_kwargs(hp),
            **changes,
        )

    def create(self, **model_kwargs) -> keras.Model:
        """Build the (uncompiled) network."""
        return create_model(self.model, input_shape=self.input_shape, classes=self.classes, **model_kwargs)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """The network of the setting `hp`, compiled by the engine's `compile_for_training`."""
        config = self.train_config(hp)
        with precision_policy(config.mixed_precision):  # layers take the policy when built
            model = self.create(**config.model_kwargs)
            return compile_for_training(config, model, self.steps_per_epoch)

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit` with integer labels -- of a `tf.data.Dataset` of `(x, y)` batches, of `y`
        arrays or of `validation_data` -- turned into the one-hot labels the smoothed loss needs."""
        args = list(args)
        if args:
            args[0] = self._one_hot(args[0])
        if len(args) > 1:
            args[1] = self._one_hot(args[1])
        for key in ("x", "y", "validation_data"):
            if kwargs.get(key) is not None:
                kwargs[key] = self._one_hot(kwargs[key])
        return model.fit(*args, **kwargs)

    def _one_hot(self, data):
        import numpy as np
        import tensorflow as tf

        classes = self.classes
        if isinstance(data, tf.data.Dataset):
            spec = data.element_spec
            if isinstance(spec, tuple) and len(spec) == 2 and spec[1].shape.rank == 1:
                return data.map(lambda x, y: (x, tf.one_hot(tf.cast(y, tf.int32), classes)))
        elif isinstance(data, tuple) and len(data) >= 2:  # validation_data=(x, y[, weights])
            return (data[0], self._one_hot(data[1]), *data[2:])
        elif isinstance(data, np.ndarray) and data.ndim == 1 and np.issubdtype(data.dtype, np.integer):
            return np.eye(classes, dtype="float32")[data]
        return data

    def hyperparameter_names(self) -> list[str]:
        """Names this HyperModel declares (the names an override may use)."""
        hp = kt.HyperParameters()
        self.model_kwargs(hp)
        self.training_kwargs(hp)
        return [p.name for p in hp.space]


class PlainMLPHyperModel(ZooHyperModel):
    """Plain and maxout MLPs (`plain_net`): width, dropout, SGD-momentum or Adam, learning rate.

    Reference:
        Glorot, Bengio. "Understanding the difficulty of training deep feedforward neural networks."
        AISTATS 2010.
    """

    knobs = (Knob(WIDTH, "width", 32, 512, 32), Knob(DEPTH, "depth"), _rate())
    optimizers = ("adam", "momentum")
    learning_rate = (1e-4, 1e-1, 1e-3)


class HighwayMLPHyperModel(PlainMLPHyperModel):
    """Highway MLP: depth matters (the paper trains 10 to 100 layers) next to width and dropout.

    Reference:
        Srivastava, Greff, Schmidhuber. "Training Very Deep Networks." NeurIPS 2015.
    """

    knobs = (Knob(WIDTH, "width", 10, 200, 10), Knob(DEPTH, "depth", 2, 40, 2), _rate())


class ResidualMLPHyperModel(PlainMLPHyperModel):
    """Residual MLP: width, depth (number of shortcut layers), dropout, like the other MLPs.

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    """

    knobs = (Knob(WIDTH, "width", 32, 512, 32), Knob(DEPTH, "depth", 2, 32, 2), _rate())


class SNNHyperModel(ZooHyperModel):
    """Self-normalising MLP: depth 2-32, width 64-1024, AlphaDropout 0-0.2 (the paper's grid).

    Reference:
        Klambauer, Unterthiner, Mayr, Hochreiter. "Self-Normalizing Neural Networks." NeurIPS 2017.
    """

    knobs = (
        Knob(WIDTH, "width", 64, 1024, 64),
        Knob(DEPTH, "depth", 2, 32, 2),
        _rate(high=0.2, step=0.05),
    )
    optimizers = ("sgd", "adam")
    learning_rate = (1e-4, 1e-1, 1e-2)


class PlainCNNHyperModel(ZooHyperModel):
    """Plain CNN (He et al.'s plain-20): first-stage filters, dropout, SGD-momentum learning rate.

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    """

    knobs = (Knob(WIDTH, "width", 8, 64, 8), Knob(DEPTH, "depth"), _rate())


class ResNetHyperModel(ZooHyperModel):
    """CIFAR ResNets (He et al. 2015/2016): SGD-momentum learning rate; dropout fixed at 0.

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    """

    knobs = (Knob(DROPOUT, "dropout", kind=float),)


class WideResNetHyperModel(ZooHyperModel):
    """Wide ResNet WRN-d-k: widening factor k, dropout, Nesterov learning rate (depth fixed by `model`).

    Reference:
        Zagoruyko, Komodakis. "Wide Residual Networks." BMVC 2016.
    """

    knobs = (Knob(WIDEN_FACTOR, "widen_factor", 1, 12, 1), _rate())
    optimizers = ("nesterov",)


class DenseNetHyperModel(ZooHyperModel):
    """DenseNet: growth rate k, dropout, Nesterov learning rate (depth, B and C fixed by `model`).

    Reference:
        Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks." CVPR 2017.
    """

    knobs = (Knob(GROWTH_RATE, "growth_rate", 4, 48, 4), _rate())
    optimizers = ("nesterov",)


def _start(entry, kwarg: str, training: TrainConfig):
    """Where the search of `kwarg` starts: the base config's model_kwargs, the registered
    variant's argument, else the family builder's default."""
    if kwarg in training.model_kwargs:
        return training.model_kwargs[kwarg]
    if kwarg in entry.arguments:
        return entry.arguments[kwarg]
    parameter = inspect.signature(entry.load_builder()).parameters.get(kwarg)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise ValueError(
            f"model={entry.name!r}: its builder has no default for {kwarg!r}, so the search has "
            "no starting value; pass it in the base config's model_kwargs."
        )
    return parameter.default


# The HyperModel of each family; plain networks by the kind of layer their variant stacks.
_BY_FAMILY = {
    "snn": SNNHyperModel,
    "resnet": ResNetHyperModel,
    "wide_resnet": WideResNetHyperModel,
    "densenet": DenseNetHyperModel,
}
_PLAIN_BY_LAYER = {
    "highway": HighwayMLPHyperModel,
    "residual": ResidualMLPHyperModel,
}


def hypermodel_class(model: str) -> type[ZooHyperModel]:
    """The HyperModel class that tunes the registered model `model` (read from its registry entry)."""
    entry = get_entry(model)
    if entry.family == "plain":
        if entry.arguments.get("kind") == "cnn":
            return PlainCNNHyperModel
        return _PLAIN_BY_LAYER.get(entry.arguments.get("layer_type"), PlainMLPHyperModel)
    return _BY_FAMILY.get(entry.family, ZooHyperModel)


def hypermodel_for(model: str, *, input_shape, classes, **kwargs) -> ZooHyperModel:
    """The HyperModel that tunes the registered model `model`.

    Models without a family HyperModel (e.g. the ImageNet ResNets) get the base `ZooHyperModel`:
    optimiser and learning rate only.

    Args:
        model: a name from `kzoo.list_models()`, e.g. `"plain_mlp"`, `"wrn_16_4"`, `"densenet_40_12"`.
        input_shape: input shape without the batch axis.
        classes: number of classes.
        **kwargs: `training`, `steps_per_epoch`, `name` of `ZooHyperModel`.

    Example:
        >>> hm = hypermodel_for("wrn_16_4", input_shape=(32, 32, 3), classes=10)
        >>> hm.hyperparameter_names()
        ['widen_factor', 'dropout', 'optimizer', 'learning_rate']
    """
    return hypermodel_class(model)(model, input_shape=input_shape, classes=classes, **kwargs)
