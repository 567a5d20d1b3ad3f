"""The offline TFDS builders: sizes, splits, content and deterministic generation."""

import random

import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets

import kzoo.data
from kzoo.data import source
from kzoo.data.builders.mnist1d import make_mnist1d

SIZES = {  # name: (train, test, example shape, classes)
    "digits": (1437, 360, (8, 8, 1), 10),
    "mnist1d": (4000, 1000, (40, 1), 10),
    "breast_cancer": (455, 114, (30,), 2),
    "wine": (142, 36, (13,), 3),
    "iris": (120, 30, (4,), 3),
}


def _rows(x):
    """Rows of x as a sorted list of bytes: order-free comparison of two example sets."""
    x = np.ascontiguousarray(x)
    return sorted(row.tobytes() for row in x.reshape(len(x), -1))


@pytest.mark.parametrize("name", sorted(SIZES))
def test_split_sizes_shapes_and_stratification(name, data_dir):
    n_train, n_test, shape, classes = SIZES[name]
    arrays = kzoo.data.load_arrays(name, data_dir=data_dir)
    assert arrays["x_train"].shape == (n_train, *shape)
    assert arrays["x_test"].shape == (n_test, *shape)
    assert arrays["y_train"].dtype == np.int64
    assert set(np.unique(arrays["y_test"])) == set(range(classes))
    if name != "mnist1d":  # the scikit-learn sets use kzoo's fixed stratified 80/20 split
        total = np.bincount(np.concatenate([arrays["y_train"], arrays["y_test"]]))
        np.testing.assert_allclose(np.bincount(arrays["y_test"]), total * 0.2, atol=1)


def test_digits_content_is_scikit_learns(data_dir):
    arrays = kzoo.data.load_arrays("digits", data_dir=data_dir)
    assert arrays["x_train"].dtype == np.uint8
    assert arrays["x_train"].max() == 16 and arrays["x_train"].min() == 0
    x = np.concatenate([arrays["x_train"], arrays["x_test"]])[..., 0]
    bunch = sk_datasets.load_digits()
    assert len(x) == 1797
    assert _rows(x) == _rows(bunch.images.astype(np.uint8))
    y = np.concatenate([arrays["y_train"], arrays["y_test"]])
    np.testing.assert_array_equal(np.bincount(y), np.bincount(bunch.target))


@pytest.mark.parametrize("name, loader", [("breast_cancer", "load_breast_cancer"),
                                          ("wine", "load_wine"), ("iris", "load_iris")])
def test_tabular_content_is_scikit_learns(name, loader, data_dir):
    arrays = kzoo.data.load_arrays(name, data_dir=data_dir)
    x = np.concatenate([arrays["x_train"], arrays["x_test"]])
    bunch = getattr(sk_datasets, loader)()
    assert x.dtype == np.float32
    assert _rows(x) == _rows(bunch.data.astype(np.float32))


def test_mnist1d_is_the_default_generated_dataset_and_keeps_global_rng(data_dir):
    np.random.seed(7)
    random.seed(7)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(7)
    random.seed(7)
    reference = make_mnist1d()
    assert np.random.rand() == expected_np and random.random() == expected_py

    arrays = kzoo.data.load_arrays("mnist1d", data_dir=data_dir)
    assert arrays["x_train"].dtype == np.float32
    assert _rows(arrays["x_train"]) == _rows(reference["x"].astype(np.float32))
    assert _rows(arrays["x_test"]) == _rows(reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(np.bincount(arrays["y_test"]), np.bincount(reference["y_test"]))


def test_generation_is_deterministic(tmp_path):
    first = kzoo.data.load_arrays("digits", data_dir=tmp_path / "a")
    second = kzoo.data.load_arrays("digits", data_dir=tmp_path / "b")
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_builders_flow_through_tfds_load_without_colliding(data_dir):
    names = set(tfds.list_builders())
    assert {"kzoo_digits", "kzoo_mnist1d", "kzoo_breast_cancer", "kzoo_wine", "kzoo_iris"} <= names
    assert tfds.builder_cls("iris").__module__.startswith("tensorflow_datasets.")
    ds, info = tfds.load("kzoo_wine", split="test", data_dir=str(data_dir), with_info=True)
    assert info.splits["train"].num_examples == 142
    assert info.features["label"].names == ["class_0", "class_1", "class_2"]
    example = next(iter(ds))
    assert example["features"].shape == (13,)


def test_a_collision_with_a_concurrent_preparation_reads_the_finished_copy(monkeypatch, data_dir):
    real_load, calls = source.tfds.load, []

    def collide_once(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 1:  # what TFDS raises when another process renamed its copy first
            raise FileExistsError("Destination .../kzoo_wine/1.0.0 already exists.")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(source.tfds, "load", collide_once)
    arrays = kzoo.data.load_arrays("wine", data_dir=data_dir)
    assert calls == ["kzoo_wine", "kzoo_wine"]
    assert arrays["x_train"].shape == (142, 13)


@pytest.mark.slow  # generates two datasets (~6 s)
def test_digit_halves_are_digits_split_filtered_and_relabelled(data_dir):
    full = kzoo.data.load_arrays("digits", data_dir=data_dir)
    for name, first in (("digits_0to4", 0), ("digits_5to9", 5)):
        half = kzoo.data.load_arrays(name, data_dir=data_dir)
        for split in ("train", "test"):
            keep = (full[f"y_{split}"] >= first) & (full[f"y_{split}"] < first + 5)
            assert _rows(half[f"x_{split}"]) == _rows(full[f"x_{split}"][keep])
            np.testing.assert_array_equal(
                np.bincount(half[f"y_{split}"]), np.bincount(full[f"y_{split}"][keep] - first))
    assert kzoo.data.load("digits_5to9", data_dir=data_dir).info.class_names == [
        "5", "6", "7", "8", "9"]
