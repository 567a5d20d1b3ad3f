import keras_tuner as kt
import pytest

from kzoo.tuning.space import (
    DROPOUT,
    LEARNING_RATE,
    OPTIMIZER,
    WIDTH,
    declare,
    overrides_to_hyperparameters,
    parse_override,
    parse_spec,
)


def _entry(hp, name):
    (entry,) = [p for p in hp.space if p.name == name]
    return entry


def test_parse_spec_forms():
    assert parse_spec("0.3") == 0.3
    assert parse_spec("64") == 64
    assert parse_spec("sgd") == "sgd"
    assert parse_spec("true") is True
    assert parse_spec("adam,momentum") == ["adam", "momentum"]
    assert parse_spec("64,128") == [64, 128]
    assert parse_spec("1e-4:1e-1:log") == (1e-4, 0.1, "log")
    assert parse_spec("64:512:64") == (64, 512, 64)
    assert parse_override("learning_rate=1e-4:1e-1:log") == ("learning_rate", (1e-4, 0.1, "log"))


@pytest.mark.parametrize("bad", ["", "=3", "lr"])
def test_bad_override_raises(bad):
    with pytest.raises(ValueError, match="NAME=SPEC|name before"):
        parse_override(bad)


@pytest.mark.parametrize("bad", ["", "1:2:3:4", "1::3"])
def test_bad_spec_raises(bad):
    with pytest.raises(ValueError, match="SPEC"):
        parse_spec(bad)


def test_declare_kinds():
    hp = kt.HyperParameters()
    declare(hp, DROPOUT, 0.3)
    declare(hp, OPTIMIZER, ["adam", "sgd"])
    declare(hp, LEARNING_RATE, "1e-4:1e-1:log")
    declare(hp, WIDTH, (64, 512, 64))
    declare(hp, "depth", (0.5, 1.5, 0.25))
    assert isinstance(_entry(hp, DROPOUT), kt.engine.hyperparameters.Fixed)
    assert hp[DROPOUT] == 0.3
    assert list(_entry(hp, OPTIMIZER).values) == ["adam", "sgd"]
    lr = _entry(hp, LEARNING_RATE)
    assert isinstance(lr, kt.engine.hyperparameters.Float)
    assert (lr.min_value, lr.max_value, lr.sampling) == (1e-4, 0.1, "log")
    width = _entry(hp, WIDTH)
    assert isinstance(width, kt.engine.hyperparameters.Int)
    assert list(width.values) == [64, 128, 192, 256, 320, 384, 448, 512]
    assert list(_entry(hp, "depth").values) == [0.5, 0.75, 1.0, 1.25, 1.5]


@pytest.mark.parametrize(
    "value, match",
    [
        ((0.1, 0.01), "min < max"),
        ((0.0, 1.0, "log"), "min > 0"),
        ((1, 10, "cubic"), "Sampling"),
        ((1, 10, -2), "Step"),
        ([], "non-empty"),
        ([1, "a"], "one type"),
        ({"a": 1}, "must be a number"),
    ],
)
def test_declare_rejects_bad_values(value, match):
    with pytest.raises(ValueError, match=match):
        declare(kt.HyperParameters(), "x", value)


def test_overrides_from_dict_and_strings_agree():
    a = overrides_to_hyperparameters({"dropout": 0.2, "width": (32, 64, 32)})
    b = overrides_to_hyperparameters(["dropout=0.2", "width=32:64:32"])
    assert a.get_config() == b.get_config()


def test_unknown_override_name_lists_valid_names():
    with pytest.raises(ValueError, match="'widht'.*dropout, width"):
        overrides_to_hyperparameters({"widht": 3}, valid_names=["width", "dropout"])
    with pytest.raises(ValueError, match="dict"):
        overrides_to_hyperparameters("dropout=0.3")
