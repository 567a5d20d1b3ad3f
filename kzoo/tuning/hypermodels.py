"""keras-tuner HyperModels for the kzoo families.

A HyperModel maps `hp` values to two dictionaries and nothing else: the builder's keyword arguments
(`model_kwargs`) and the training arguments (`training_kwargs`: the `TrainConfig` fields `optimizer` and
`learning_rate`). The network always comes from `kzoo.create_model` or a family builder -- no block code
is copied into the tuner (keras-tuner's own HyperResNet does that, and drifts from the real model).
The optimiser comes from the training engine's `make_optimizer`, and the loss, labels and precision
are the engine's (one-hot labels, `CategoricalCrossentropy(label_smoothing)`, the `mixed_precision`
policy), so a trial trains the way `kzoo.training.train` does with the `training` base config.

Every knob is declared under a name from `kzoo.tuning.space`; a knob a family does not search is
declared `hp.Fixed` at the builder's default, so it shows in the results and can still be overridden.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import keras
import keras_tuner as kt

from kzoo.registry import create_model, get_entry
from kzoo.training.config import TrainConfig
from kzoo.training.optimizers import decay_only_kernels, make_optimizer
from kzoo.training.precision import resolve_precision
from kzoo.training.regularization import with_kernel_l2
from kzoo.tuning.space import (
    DEPTH,
    DROPOUT,
    GROWTH_RATE,
    LEARNING_RATE,
    OPTIMIZER,
    WIDTH,
    WIDTH_FACTOR,
)


@dataclass(frozen=True)
class Knob:
    """How one builder argument is searched.

    Args:
        name: the hyperparameter name (a `kzoo.tuning.space` constant).
        kwarg: the builder's keyword argument it sets.
        default: the builder's default value; the search starts there.
        low, high, step: the search range; `low=None` declares `hp.Fixed(name, default)`.
    """

    name: str
    kwarg: str
    default: float
    low: float | None = None
    high: float | None = None
    step: float | None = None

    def declare(self, hp: kt.HyperParameters, default=None):
        d = self.default if default is None else default
        cast = int if isinstance(self.default, int) else float
        if self.low is None:
            return cast(hp.Fixed(self.name, d))
        low, high = min(self.low, d), max(self.high, d)
        if cast is int:
            return int(hp.Int(self.name, low, high, step=self.step, default=d))
        return float(hp.Float(self.name, float(low), float(high), step=self.step, default=float(d)))


def _rate(default=0.0, high=0.5, step=0.1):
    return Knob(DROPOUT, "dropout", default, 0.0, high, step)


class ZooHyperModel(kt.HyperModel):
    """Base HyperModel: `hp` -> builder keyword arguments + training arguments -> compiled model.

    Subclasses list their `knobs`, `optimizers` and `learning_rate` range; `create` builds the net.

    Args:
        model: a registered model name (`kzoo.list_models()`).
        input_shape: input shape without the batch axis, e.g. `(8, 8, 1)`.
        classes: number of classes of the softmax head.
        defaults: builder defaults of this variant that differ from the family's, `{kwarg: value}`.
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
        defaults=None,
        training: TrainConfig | None = None,
        steps_per_epoch: int = 1,
        name=None,
        tunable=True,
    ):
        get_entry(model)  # an unknown name raises with close matches
        if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape
        ):
            raise ValueError(
                "`input_shape` must be a tuple of positive integers without the batch axis, e.g. "
                f"(8, 8, 1); received input_shape={input_shape!r}."
            )
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
            raise ValueError(f"`classes` must be an integer >= 2; received classes={classes!r}.")
        defaults = dict(defaults or {})
        unknown = set(defaults) - {k.kwarg for k in self.knobs}
        if unknown:
            raise ValueError(
                f"`defaults` may set {sorted(k.kwarg for k in self.knobs)}; received {sorted(unknown)}."
            )
        if training is not None and not isinstance(training, TrainConfig):
            raise ValueError(f"`training` must be a TrainConfig or None; received {training!r}.")
        if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
            raise ValueError(
                f"`steps_per_epoch` must be an integer >= 1; received steps_per_epoch={steps_per_epoch!r}."
            )
        super().__init__(name=name, tunable=tunable)
        self.model = model
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.training = training or TrainConfig(model=model, dataset="", run_dir="")
        knob_kwargs = {k.kwarg for k in self.knobs}
        self.defaults = defaults | {
            k: v for k, v in self.training.model_kwargs.items() if k in knob_kwargs
        }
        self.steps_per_epoch = steps_per_epoch

    def model_kwargs(self, hp: kt.HyperParameters) -> dict:
        """The builder's keyword arguments for the values in `hp`."""
        return {k.kwarg: k.declare(hp, self.defaults.get(k.kwarg)) for k in self.knobs}

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
        config = self.train_config(hp)
        previous_policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(resolve_precision(config.mixed_precision))
        try:  # layers take the policy when they are built; compile wraps a loss-scale optimiser
            model = self.create(**config.model_kwargs)
            if config.decay_mode == "l2" and config.weight_decay > 0:
                model = with_kernel_l2(model, config.weight_decay)
            optimizer = make_optimizer(config, self.steps_per_epoch)
            decay_only_kernels(optimizer, model)
            model.compile(
                optimizer=optimizer,
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            )
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)
        return model

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

    knobs = (Knob(WIDTH, "width", 256, 32, 512, 32), Knob(DEPTH, "depth", 3), _rate())
    optimizers = ("adam", "momentum")
    learning_rate = (1e-4, 1e-1, 1e-3)


class HighwayMLPHyperModel(PlainMLPHyperModel):
    """Highway MLP: depth matters (the paper trains 10 to 100 layers) next to width and dropout.

    Reference:
        Srivastava, Greff, Schmidhuber. "Training Very Deep Networks." NeurIPS 2015.
    """

    knobs = (Knob(WIDTH, "width", 50, 10, 200, 10), Knob(DEPTH, "depth", 20, 2, 40, 2), _rate())


class ResidualMLPHyperModel(PlainMLPHyperModel):
    """Residual MLP: width, depth (number of shortcut layers), dropout, like the other MLPs.

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    """

    knobs = (Knob(WIDTH, "width", 256, 32, 512, 32), Knob(DEPTH, "depth", 8, 2, 32, 2), _rate())


class SNNHyperModel(ZooHyperModel):
    """Self-normalising MLP: depth 2-32, width 64-1024, AlphaDropout 0-0.2 (the paper's grid).

    Reference:
        Klambauer, Unterthiner, Mayr, Hochreiter. "Self-Normalizing Neural Networks." NeurIPS 2017.
    """

    knobs = (
        Knob(WIDTH, "width", 256, 64, 1024, 64),
        Knob(DEPTH, "depth", 8, 2, 32, 2),
        _rate(default=0.05, high=0.2, step=0.05),
    )
    optimizers = ("sgd", "adam")
    learning_rate = (1e-4, 1e-1, 1e-2)


class PlainCNNHyperModel(ZooHyperModel):
    """Plain CNN (He et al.'s plain-20): first-stage filters, dropout, SGD-momentum learning rate.

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    """

    knobs = (Knob(WIDTH, "width", 16, 8, 64, 8), Knob(DEPTH, "depth", 19), _rate())


class ResNetHyperModel(ZooHyperModel):
    """CIFAR ResNets (He et al. 2015/2016): SGD-momentum learning rate; dropout fixed at 0.

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    """

    knobs = (Knob(DROPOUT, "dropout", 0.0),)


class WideResNetHyperModel(ZooHyperModel):
    """Wide ResNet WRN-d-k: width factor k, dropout, Nesterov learning rate (depth fixed by `model`).

    Reference:
        Zagoruyko, Komodakis. "Wide Residual Networks." BMVC 2016.
    """

    knobs = (Knob(WIDTH_FACTOR, "width", 4, 1, 12, 1), _rate())
    optimizers = ("nesterov",)

    def create(self, **model_kwargs):
        from kzoo.models.wide_resnet import wide_resnet

        depth = int(_WRN.match(self.model)[1])
        return wide_resnet(depth, input_shape=self.input_shape, classes=self.classes, **model_kwargs)


class DenseNetHyperModel(ZooHyperModel):
    """DenseNet: growth rate k, dropout, Nesterov learning rate (depth, B and C fixed by `model`).

    Reference:
        Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks." CVPR 2017.
    """

    knobs = (Knob(GROWTH_RATE, "growth_rate", 12, 4, 48, 4), _rate())
    optimizers = ("nesterov",)

    def create(self, **model_kwargs):
        from kzoo.models.densenet import densenet

        m = _DENSENET.match(self.model)
        bc = bool(m[1])
        return densenet(
            int(m[2]),
            bottleneck=bc,
            compression=0.5 if bc else 1.0,
            input_shape=self.input_shape,
            classes=self.classes,
            **model_kwargs,
        )


# Registered name -> (HyperModel, the variant's builder defaults that differ from the family's).
_BY_NAME = {
    "plain_mlp": (PlainMLPHyperModel, {}),
    "deep_plain_mlp": (HighwayMLPHyperModel, {"width": 71, "depth": 20}),
    "maxout_mlp": (PlainMLPHyperModel, {"width": 240, "depth": 2, "dropout": 0.5}),
    "highway_mlp": (HighwayMLPHyperModel, {}),
    "residual_mlp": (ResidualMLPHyperModel, {}),
    "snn_mlp": (SNNHyperModel, {}),
    "plain_cnn": (PlainCNNHyperModel, {}),
}
# The registry's naming of the variants: wrn_<depth>_<k>, densenet[_bc]_<depth>_<k>.
_WRN = re.compile(r"^wrn_(\d+)_(\d+)$")
_DENSENET = re.compile(r"^densenet(_bc)?_(\d+)_(\d+)$")


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
        ['width_factor', 'dropout', 'optimizer', 'learning_rate']
    """
    family = get_entry(model).family
    common = {"input_shape": input_shape, "classes": classes, **kwargs}
    if model in _BY_NAME:
        cls, defaults = _BY_NAME[model]
        return cls(model, defaults=defaults, **common)
    if family == "wide_resnet" and (m := _WRN.match(model)):
        return WideResNetHyperModel(model, defaults={"width": int(m[2])}, **common)
    if family == "densenet" and (m := _DENSENET.match(model)):
        return DenseNetHyperModel(model, defaults={"growth_rate": int(m[3])}, **common)
    if family == "resnet":
        return ResNetHyperModel(model, **common)
    return ZooHyperModel(model, **common)
