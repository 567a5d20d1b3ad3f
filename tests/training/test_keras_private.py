"""The version guard in front of kzoo's uses of Keras internals trips outside the tested range."""

import keras
import pytest

from kzoo import keras_private
from kzoo.keras_private import UntestedKerasError, check_keras_version


@pytest.mark.parametrize("version", ["3.15.0", "3.15.1", "3.15.2rc1"])
def test_tested_releases_pass(version):
    check_keras_version(version)


@pytest.mark.parametrize("version", ["3.14.1", "3.16.0", "4.0.0", "2.15.0"])
def test_untested_releases_are_refused_naming_the_range(version):
    with pytest.raises(UntestedKerasError, match=rf"found Keras {version}.*keras>=3.15,<3.16"):
        check_keras_version(version)


def test_the_installed_keras_is_in_range_and_the_private_module_loads():
    check_keras_version()  # CI installs the pyproject bound, which matches TESTED_KERAS
    trainer = keras_private.tensorflow_trainer()
    assert callable(trainer.reduce_per_replica)
    assert callable(trainer.TensorFlowTrainer._maybe_symbolic_build)


def test_a_private_use_under_an_untested_keras_fails_loudly(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.17.0")
    with pytest.raises(UntestedKerasError):
        keras_private.tensorflow_trainer()
    with pytest.raises(UntestedKerasError):
        with keras_private.multiworker_fit_fixes():
            pass
