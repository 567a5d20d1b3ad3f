"""The model registry: names, patterns, close matches and argument errors."""

import pytest

import kzoo
from kzoo.cli import main
from kzoo.registry import create_model, list_models, register_model


def test_list_models_filters_with_fnmatch():
    assert list_models("wrn*") == ["wrn_16_4", "wrn_16_8", "wrn_28_10", "wrn_40_4"]
    assert list_models("resnet?0") == ["resnet20", "resnet50"]
    assert list_models("zz*") == []
    assert list_models() == sorted(list_models()) and "densenet_bc_100_12" in list_models()


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model name='resnet21'. Did you mean: .*resnet20"):
        create_model("resnet21")


def test_unknown_argument_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) 'widen_facter' \(did you mean 'widen_factor'"):
        create_model("wrn_16_4", classes=10, widen_facter=2)


def test_a_name_registers_once():
    with pytest.raises(ValueError, match="already registered"):

        @register_model
        def resnet20(**kwargs):  # noqa: F811 (the point of the test)
            raise AssertionError("never called")


def test_builders_get_the_overrides():
    model = kzoo.create_model("plain_mlp", depth=2, width=7, input_shape=(5,), classes=3)
    assert model.output_shape == (None, 3)
    assert [w.shape for w in model.trainable_weights][:2] == [(5, 7), (7,)]


def test_kzoo_list_exits_nonzero_when_nothing_matches(capsys):
    assert main(["list", "wrn_16*"]) == 0
    assert capsys.readouterr().out.split() == ["wrn_16_4", "wrn_16_8"]
    assert main(["list", "zz*"]) == 1
    assert "no registered model matches 'zz*'" in capsys.readouterr().out
