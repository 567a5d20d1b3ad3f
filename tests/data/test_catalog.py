"""Catalog entries, unknown names, online datasets without the network, shape checks."""

import keras
import pytest
import tensorflow_datasets as tfds

import kzoo.data
from kzoo.data import download, source
from kzoo.utils.errors import UserError


def test_list_datasets():
    assert kzoo.data.list_datasets() == sorted(
        ["breast_cancer", "cifar10", "cifar100", "digits", "digits_0to4", "digits_5to9",
         "fashion_mnist", "iris", "mnist", "mnist1d", "svhn_cropped", "wine"]
    )


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"name='cifar11'.*'cifar10'.*Valid names: breast_cancer"):
        kzoo.data.load("cifar11")
    with pytest.raises(ValueError, match="Valid names"):
        kzoo.data.load_arrays(None)


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "mnist", "fashion_mnist", "svhn_cropped"])
def test_online_entries_match_tfds_metadata(name, tmp_path):
    spec = kzoo.data.get_spec(name)
    info = tfds.builder(spec.tfds_name, data_dir=str(tmp_path)).info  # from code, no download
    assert not spec.offline
    assert info.features["image"].shape == spec.input_shape
    assert info.features["label"].num_classes == spec.num_classes
    assert info.features["image"].np_dtype.__name__ == spec.raw_dtype


def test_default_augmentation_per_dataset():
    spec = kzoo.data.get_spec
    assert (spec("cifar10").augment, spec("cifar10").pad, spec("cifar10").flip) == (True, 4, True)
    assert (spec("svhn_cropped").augment, spec("svhn_cropped").flip) == (False, False)
    assert (spec("digits").augment, spec("digits").pad, spec("digits").flip) == (False, 1, False)
    assert not spec("wine").can_augment and not spec("mnist1d").can_augment


def test_failed_download_says_what_to_do(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(source.tfds, "load", offline)
    monkeypatch.setattr(download, "unreachable", lambda *args, **kwargs: None)  # host "reached"
    with pytest.raises(UserError, match=r"cifar10.*ConnectionError.*cifar-10-binary.*--manual-dir"):
        kzoo.data.load_arrays("cifar10", data_dir=tmp_path)


def test_check_input_shape():
    info = kzoo.data.DatasetInfo(
        name="digits", input_shape=(8, 8, 1), num_classes=10, class_names=[], mean=None,
        std=None, num_train=1, num_validation=0, num_test=1, raw_dtype="uint8", kind="image",
    )
    fits = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Flatten()])
    kzoo.data.check_input_shape(info, fits)
    wrong = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten()], name="cnn")
    with pytest.raises(ValueError, match=r"'digits'.*\(8, 8, 1\).*'cnn'.*\(32, 32, 3\)"):
        kzoo.data.check_input_shape(info, wrong)
