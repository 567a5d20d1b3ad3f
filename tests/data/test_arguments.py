"""Bad arguments raise ValueError naming the argument and the value, before any data is read."""

import pytest

import kzoo.data


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "batch_size=0"),
    ({"batch_size": 1.5}, "batch_size=1.5"),
    ({"batch_size": True}, "batch_size=True"),
    ({"validation_split": 1.0}, r"validation_split=1.0"),
    ({"validation_split": -0.1}, r"validation_split=-0.1"),
    ({"validation_split": "0.1"}, r"validation_split='0.1'"),
    ({"seed": -1}, "seed=-1"),
    ({"seed": 2**32}, "seed=4294967296"),
    ({"seed": 0.5}, "seed=0.5"),
    ({"augment": "yes"}, "augment='yes'"),
    ({"data_dir": 3}, "data_dir=3"),
    ({"cache": None}, "cache=None"),
])
def test_bad_load_arguments(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        kzoo.data.load("digits", **{"data_dir": str(tmp_path), **kwargs})
    assert not any(tmp_path.iterdir())  # refused before preparing anything in data_dir


def test_validation_split_too_small_to_stratify(data_dir):
    with pytest.raises(ValueError, match=r"`validation_split`=0.01 cannot hold out .* 3 classes"):
        kzoo.data.load("iris", validation_split=0.01, data_dir=data_dir)


def test_zero_validation_split_gives_no_validation(data_dir):
    bundle = kzoo.data.load("iris", validation_split=0, data_dir=data_dir)
    assert bundle.validation is None and bundle.info.num_validation == 0
    assert bundle.info.num_train == 120 and bundle.steps_per_epoch == 1


@pytest.mark.parametrize("initial_epoch, epochs, match", [
    (-1, 2, "initial_epoch=-1"),
    (0, 1.0, "epochs=1.0"),
    (3, 2, "initial_epoch=3, epochs=2"),
])
def test_bad_train_epochs_arguments(initial_epoch, epochs, match, data_dir):
    bundle = kzoo.data.load("iris", data_dir=data_dir)
    with pytest.raises(ValueError, match=match):
        bundle.train_epochs(initial_epoch, epochs)
