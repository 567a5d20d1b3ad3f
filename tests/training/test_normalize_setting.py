"""The `normalize` training setting: validated, on the command line, and fingerprinted only if set."""

import pytest

from kzoo.data.normalize import METHODS
from kzoo.training import TrainConfig
from kzoo.training.config import NORMALIZATIONS
from kzoo.utils.errors import SettingError


def _config(**kw):
    return TrainConfig(model="plain_mlp", dataset="wine", run_dir="runs/x", **kw)


def test_choices_are_the_data_package_methods():
    assert NORMALIZATIONS == METHODS


def test_default_leaves_existing_fingerprints_alone():
    default = _config()
    assert "normalize" not in default.fingerprint_fields()
    assert _config(normalize="standardize").fingerprint() == default.fingerprint()
    zca = _config(normalize="zca")
    assert zca.fingerprint_fields()["normalize"] == "zca"
    assert zca.fingerprint() != default.fingerprint()


def test_an_unknown_method_names_the_setting():
    with pytest.raises(SettingError, match="normalize must be one of standardize, center, pca"):
        _config(normalize="whiten").validate()
