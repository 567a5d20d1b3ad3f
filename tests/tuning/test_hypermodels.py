import functools

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf

import kzoo.models.densenet
from kzoo.models.densenet import densenet
from kzoo.models.wide_resnet import wide_resnet
from kzoo.training import TrainConfig
from kzoo.tuning.hypermodels import (
    DenseNetHyperModel,
    HighwayMLPHyperModel,
    PlainCNNHyperModel,
    PlainMLPHyperModel,
    ResidualMLPHyperModel,
    ResNetHyperModel,
    SNNHyperModel,
    WideResNetHyperModel,
    ZooHyperModel,
    hypermodel_for,
)
from kzoo.tuning.space import (
    DEPTH,
    DROPOUT,
    GROWTH_RATE,
    LEARNING_RATE,
    OPTIMIZER,
    WIDEN_FACTOR,
    WIDTH,
)

DIGITS = dict(input_shape=(8, 8, 1), classes=10)
SMALL_IMAGE = dict(input_shape=(8, 8, 3), classes=10)


def _fixed(**values):
    hp = kt.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def _trainable(model):
    return sum(int(keras.ops.size(v)) for v in model.trainable_variables)


def _lr(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def _layers(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


def _dropout_rates(model):
    """Every dropout rate in the model's layer configs (composite blocks included)."""
    return {layer.get_config()["dropout"] for layer in model.layers if "dropout" in layer.get_config()}


@pytest.mark.parametrize(
    "name, cls, names",
    [
        ("plain_mlp", PlainMLPHyperModel, [WIDTH, DEPTH, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("highway_mlp", HighwayMLPHyperModel, [WIDTH, DEPTH, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("residual_mlp", ResidualMLPHyperModel, [WIDTH, DEPTH, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("snn_mlp", SNNHyperModel, [WIDTH, DEPTH, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("plain_cnn", PlainCNNHyperModel, [WIDTH, DEPTH, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("resnet20", ResNetHyperModel, [DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("wrn_16_4", WideResNetHyperModel, [WIDEN_FACTOR, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("densenet_bc_100_12", DenseNetHyperModel, [GROWTH_RATE, DROPOUT, OPTIMIZER, LEARNING_RATE]),
        ("resnet18", ZooHyperModel, [OPTIMIZER, LEARNING_RATE]),
    ],
)
def test_hypermodel_for_picks_the_family(name, cls, names):
    hm = hypermodel_for(name, **SMALL_IMAGE)
    assert type(hm) is cls
    assert hm.hyperparameter_names() == names


def test_plain_mlp_defaults_are_the_builders():
    hm = hypermodel_for("plain_mlp", **DIGITS)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert hp.values == {WIDTH: 256, DEPTH: 3, DROPOUT: 0.0, OPTIMIZER: "adam", LEARNING_RATE: 1e-3}
    assert [layer.units for layer in _layers(model, keras.layers.Dense)] == [256, 256, 256, 10]
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert _lr(model) == pytest.approx(1e-3)
    # The whole search space: width 32..512 step 32, log-scale learning rate 1e-4..1e-1.
    width = next(p for p in hp.space if p.name == WIDTH)
    assert (width.min_value, width.max_value, width.step) == (32, 512, 32)
    lr = next(p for p in hp.space if p.name == LEARNING_RATE)
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-4, 1e-1, "log")


def test_plain_mlp_fixed_overrides():
    hm = hypermodel_for("plain_mlp", **DIGITS)
    hp = _fixed(**{WIDTH: 32, DEPTH: 2, DROPOUT: 0.25, OPTIMIZER: "momentum", LEARNING_RATE: 0.02})
    model = hm.build(hp)
    assert [layer.units for layer in _layers(model, keras.layers.Dense)] == [32, 32, 10]
    assert [layer.rate for layer in _layers(model, keras.layers.Dropout)] == [0.25, 0.25]
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.momentum) == pytest.approx(0.9)
    assert _lr(model) == pytest.approx(0.02)
    # 64 -> 32 -> 32 -> 10 dense layers with biases.
    assert _trainable(model) == 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10


def test_maxout_variant_keeps_its_own_defaults():
    hp = kt.HyperParameters()
    hypermodel_for("maxout_mlp", **DIGITS).model_kwargs(hp)
    assert (hp[WIDTH], hp[DEPTH], hp[DROPOUT]) == (240, 2, 0.5)


def test_highway_depth_and_width():
    hm = hypermodel_for("highway_mlp", **DIGITS)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert (hp[WIDTH], hp[DEPTH]) == (50, 20)
    assert len([layer for layer in model.layers if layer.name.startswith("highway_")]) == 20
    model = hm.build(_fixed(**{WIDTH: 30, DEPTH: 4}))
    highway = [layer for layer in model.layers if layer.name.startswith("highway_")]
    assert [layer.units for layer in highway] == [30, 30, 30, 30]


def test_residual_mlp_width_depth_and_dropout():
    hm = hypermodel_for("residual_mlp", **DIGITS)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert (hp[WIDTH], hp[DEPTH], hp[DROPOUT]) == (256, 8, 0.0)
    assert len(_layers(model, keras.layers.Add)) == 8
    model = hm.build(_fixed(**{WIDTH: 32, DEPTH: 4, DROPOUT: 0.2}))
    assert len(_layers(model, keras.layers.Add)) == 4
    assert {layer.units for layer in _layers(model, keras.layers.Dense)} == {32, 10}
    assert [layer.rate for layer in _layers(model, keras.layers.Dropout)] == [0.2] * 4
    space = {p.name: p for p in hp.space}
    assert (space[DEPTH].min_value, space[DEPTH].max_value) == (2, 32)


def test_snn_alpha_dropout_and_depth():
    hm = hypermodel_for("snn_mlp", **DIGITS)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert (hp[WIDTH], hp[DEPTH], hp[DROPOUT], hp[OPTIMIZER]) == (256, 8, 0.05, "sgd")
    assert [layer.rate for layer in _layers(model, keras.layers.AlphaDropout)] == [0.05] * 8
    model = hm.build(_fixed(**{DEPTH: 4, WIDTH: 64, DROPOUT: 0.1}))
    assert [layer.rate for layer in _layers(model, keras.layers.AlphaDropout)] == [0.1] * 4
    assert [layer.units for layer in _layers(model, keras.layers.Dense)] == [64] * 4 + [10]


def test_plain_cnn_width_is_first_stage_filters():
    hm = hypermodel_for("plain_cnn", **DIGITS)
    model = hm.build(_fixed(**{WIDTH: 8, DEPTH: 4}))
    filters = [layer.filters for layer in _layers(model, keras.layers.Conv2D)]
    assert filters[0] == 8 and max(filters) == 32  # 8, 16, 32 over three stages


def test_wide_resnet_widen_factor_and_dropout():
    hm = hypermodel_for("wrn_16_4", **SMALL_IMAGE)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert (hp[WIDEN_FACTOR], hp[DROPOUT], hp[OPTIMIZER]) == (4, 0.0, "nesterov")
    assert _trainable(model) == _trainable(wide_resnet(16, 4, **SMALL_IMAGE))
    assert model.optimizer.nesterov
    model = hm.build(_fixed(**{WIDEN_FACTOR: 2, DROPOUT: 0.3, LEARNING_RATE: 0.1}))
    assert _trainable(model) == _trainable(wide_resnet(16, 2, **SMALL_IMAGE))
    assert _dropout_rates(model) == {0.3}
    assert _lr(model) == pytest.approx(0.1)


def test_densenet_growth_rate_and_dropout():
    hm = hypermodel_for("densenet_40_12", **SMALL_IMAGE)
    hp = kt.HyperParameters()
    hm.model_kwargs(hp)
    assert (hp[GROWTH_RATE], hp[DROPOUT]) == (12, 0.0)
    model = hm.build(_fixed(**{GROWTH_RATE: 8, DROPOUT: 0.2}))
    assert model.name == "densenet_40_8"
    assert _trainable(model) == _trainable(densenet(40, 8, False, 1.0, **SMALL_IMAGE))
    assert _dropout_rates(model) == {0.2}



def test_densenet_bc_variant_calls_the_family_builder(monkeypatch):
    calls = []
    real = kzoo.models.densenet.densenet

    @functools.wraps(real)  # keeps the signature the HyperModel reads its defaults from
    def record(**kwargs):
        calls.append(kwargs)

    monkeypatch.setattr(kzoo.models.densenet, "densenet", record)
    hypermodel_for("densenet_bc_100_12", **SMALL_IMAGE).create(growth_rate=8, dropout=0.1)
    (kwargs,) = calls
    assert kwargs == dict(depth=100, bottleneck=True, compression=0.5, growth_rate=8, dropout=0.1,
                          **SMALL_IMAGE)


def test_resnet_dropout_pinned_unless_overridden():
    hm = hypermodel_for("resnet20", **SMALL_IMAGE)
    hp = kt.HyperParameters()
    assert _dropout_rates(hm.build(hp)) == {0.0}
    assert hp[OPTIMIZER] == "momentum"
    assert _dropout_rates(hm.build(_fixed(**{DROPOUT: 0.2}))) == {0.2}


def test_base_training_config_reaches_the_trial():
    base = TrainConfig(model="plain_mlp", dataset="digits", run_dir="", weight_decay=1e-3, momentum=0.8)
    hm = hypermodel_for("plain_mlp", **DIGITS, training=base)
    model = hm.build(_fixed(**{OPTIMIZER: "momentum", WIDTH: 16}))
    assert float(model.optimizer.momentum) == pytest.approx(0.8)
    kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
    expected = 0.5e-3 * sum(float(keras.ops.sum(k**2)) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    config = hm.train_config(_fixed(**{WIDTH: 16, LEARNING_RATE: 0.01}), epochs=3)
    assert config.model_kwargs == {"width": 16, "depth": 3, "dropout": 0.0}
    assert (config.learning_rate, config.epochs, config.weight_decay) == (0.01, 3, 1e-3)


def test_base_model_kwargs_are_the_knob_defaults():
    # A recipe's builder arguments (snn_uci: depth 8; wrn_cifar --dropout 0.3) are where the
    # search starts, and a fixed knob keeps them instead of the family default.
    base = TrainConfig(model="plain_mlp", dataset="digits", run_dir="",
                       model_kwargs={"depth": 8, "dropout": 0.3, "activation": "tanh"})
    hm = hypermodel_for("plain_mlp", **DIGITS, training=base)
    hp = kt.HyperParameters()
    model = hm.build(hp)
    assert (hp[WIDTH], hp[DEPTH], hp[DROPOUT]) == (256, 8, 0.3)
    assert len(_layers(model, keras.layers.Dropout)) == 8
    assert hm.train_config(hp).model_kwargs == {"depth": 8, "dropout": 0.3, "activation": "tanh", "width": 256}


def _smoothed_cross_entropy(probs, labels, smoothing, classes=10):
    target = np.full((len(labels), classes), smoothing / classes)
    target[np.arange(len(labels)), labels] += 1 - smoothing
    return float(np.mean(-np.sum(target * np.log(np.clip(probs, 1e-7, 1.0)), axis=1)))


def test_trials_use_the_base_label_smoothing_on_integer_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=64)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    base = TrainConfig(model="plain_mlp", dataset="digits", run_dir="", label_smoothing=0.2)
    hm = hypermodel_for("plain_mlp", **DIGITS, training=base)
    hp = _fixed(**{WIDTH: 16, OPTIMIZER: "adam", LEARNING_RATE: 1e-9})
    model = hm.build(hp)
    history = hm.fit(hp, model, data, validation_data=data, epochs=1, verbose=0,
                     shuffle=False)  # as the driver passes it: the bundle shuffles
    probs = model.predict(x, verbose=0)
    expected = _smoothed_cross_entropy(probs, y, 0.2)
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-4)
    assert abs(expected - _smoothed_cross_entropy(probs, y, 0.0)) > 0.01  # smoothing matters here
    accuracy = float(np.mean(probs.argmax(1) == y))
    assert history.history["val_accuracy"][0] == pytest.approx(accuracy)
    # Integer label arrays are converted too.
    history = hm.fit(hp, model, x, y, validation_data=(x, y), batch_size=32, epochs=1, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_trials_use_the_base_precision_policy(policy):
    base = TrainConfig(model="plain_mlp", dataset="digits", run_dir="", mixed_precision=policy)
    model = hypermodel_for("plain_mlp", **DIGITS, training=base).build(_fixed(**{WIDTH: 16}))
    dense = _layers(model, keras.layers.Dense)
    assert {layer.dtype_policy.name for layer in dense[:-1]} == {policy}
    assert dense[0].compute_dtype == policy.removeprefix("mixed_")
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the build
    # Without a base config the trials use TrainConfig's default policy, "auto", resolved here.
    from kzoo.training.precision import resolve_precision

    plain = hypermodel_for("plain_mlp", **DIGITS).build(_fixed(**{WIDTH: 16}))
    auto = keras.DTypePolicy(resolve_precision("auto")).compute_dtype
    assert _layers(plain, keras.layers.Dense)[0].compute_dtype == auto


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(model="nope_net", input_shape=(8,), classes=10), "nope_net"),
        (dict(model="plain_mlp", input_shape=(0, 8), classes=10), "input_shape"),
        (dict(model="plain_mlp", input_shape=(8,), classes=1), "classes"),
        (dict(model="plain_mlp", input_shape=(8,), classes=10, training="sgd"), "training"),
        (dict(model="plain_mlp", input_shape=(8,), classes=10, steps_per_epoch=0), "steps_per_epoch"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PlainMLPHyperModel(kwargs.pop("model"), **kwargs)


@pytest.mark.parametrize("name", ["wrn_16_4", "densenet_40_12"])
def test_searched_width_and_growth_rate_retrain_through_the_registry(name):
    from kzoo.registry import create_model
    from kzoo.tuning.driver import _check_retrainable

    hm = hypermodel_for(name, **SMALL_IMAGE)
    _check_retrainable(hm)  # the registered variant takes the tuned keyword arguments
    hp = kt.HyperParameters()
    kwargs = hm.model_kwargs(hp)
    key = "widen_factor" if name.startswith("wrn") else "growth_rate"
    kwargs[key] = 2
    model = create_model(name, **SMALL_IMAGE, **kwargs)
    assert model.name == ("wrn_16_2" if key == "widen_factor" else "densenet_40_2")
