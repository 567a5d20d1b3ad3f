"""`kzoo.data.load`: hold-out, normalisation, determinism, replayable epochs, errors."""

import keras
import numpy as np
import pytest

import kzoo.data


def _collect(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return xs, ys


def _assert_same_batches(a, b):
    assert len(a[0]) == len(b[0])
    for xa, xb, ya, yb in zip(a[0], b[0], a[1], b[1], strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@pytest.fixture(scope="module")
def digits(data_dir):
    return kzoo.data.load("digits", batch_size=100, data_dir=data_dir)


def test_bundle_shapes_and_sizes(digits):
    info = digits.info
    assert (info.num_train, info.num_validation, info.num_test) == (1293, 144, 360)
    assert info.num_train + info.num_validation + info.num_test == 1797
    assert (info.input_shape, info.num_classes, info.kind, info.raw_dtype) == (
        (8, 8, 1), 10, "image", "uint8")
    assert info.class_names == [str(d) for d in range(10)]
    assert digits.steps_per_epoch == 13
    x, y = next(iter(digits.train))
    assert (x.shape, x.dtype.name, y.dtype.name) == ((100, 8, 8, 1), "float32", "int64")
    xs, _ = _collect(digits.validation)
    assert [len(b) for b in xs] == [100, 44]


def test_validation_is_stratified_and_disjoint(digits, data_dir):
    y = kzoo.data.load_arrays("digits", data_dir=data_dir)["y_train"]
    train, val = digits.train_indices, digits.validation_indices
    assert len(np.intersect1d(train, val)) == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(1437))
    np.testing.assert_allclose(np.bincount(y[val]), np.bincount(y) * 0.1, atol=1)
    _, val_labels = _collect(digits.validation)
    np.testing.assert_array_equal(np.concatenate(val_labels), y[val])


@pytest.mark.parametrize("name", ["digits", "wine", "mnist1d"])
def test_statistics_come_from_the_training_part_only(name, data_dir):
    bundle = kzoo.data.load(name, batch_size=64, data_dir=data_dir, validation_split=0.2)
    x = kzoo.data.load_arrays(name, data_dir=data_dir)["x_train"].astype(np.float64)
    part = x[bundle.train_indices].reshape(-1, x.shape[-1])
    np.testing.assert_allclose(bundle.info.mean, part.mean(0), rtol=1e-6)
    np.testing.assert_allclose(bundle.info.std, part.std(0), rtol=1e-6)
    whole = x.reshape(-1, x.shape[-1])
    assert not np.allclose(bundle.info.mean, whole.mean(0), rtol=1e-4, atol=0)


def test_eval_pipelines_are_standardised_not_augmented(data_dir):
    bundle = kzoo.data.load("wine", batch_size=16, data_dir=data_dir, seed=3)
    arrays = kzoo.data.load_arrays("wine", data_dir=data_dir)
    expected = (arrays["x_test"] - bundle.info.mean) / bundle.info.std
    xs, ys = _collect(bundle.test)
    np.testing.assert_allclose(np.concatenate(xs), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate(ys), arrays["y_test"])
    train_part = (arrays["x_train"][bundle.train_indices] - bundle.info.mean) / bundle.info.std
    np.testing.assert_allclose(train_part.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train_part.std(0), 1, atol=1e-5)


def test_an_epoch_is_a_permutation_of_the_training_part(digits, data_dir):
    arrays = kzoo.data.load_arrays("digits", data_dir=data_dir)
    xs, ys = _collect(digits.train_epochs(0, 1))
    assert len(xs) == digits.steps_per_epoch
    x, y = np.concatenate(xs), np.concatenate(ys)
    expected = (arrays["x_train"][digits.train_indices] - digits.info.mean) / digits.info.std
    order = np.lexsort(x.reshape(len(x), -1).T)
    ref = np.lexsort(expected.reshape(len(x), -1).T)
    np.testing.assert_allclose(x[order], expected[ref], rtol=1e-6)
    np.testing.assert_array_equal(np.sort(y), np.sort(arrays["y_train"][digits.train_indices]))
    assert not np.array_equal(y, arrays["y_train"][digits.train_indices])


def test_same_seed_same_batches_different_seed_different(data_dir):
    a = kzoo.data.load("digits", data_dir=data_dir, seed=5, augment=True)
    b = kzoo.data.load("digits", data_dir=data_dir, seed=5, augment=True)
    c = kzoo.data.load("digits", data_dir=data_dir, seed=6, augment=True)
    _assert_same_batches(_collect(a.train_epochs(0, 2)), _collect(b.train_epochs(0, 2)))
    _assert_same_batches(_collect(a.train), _collect(b.train))
    np.testing.assert_array_equal(a.train_indices, b.train_indices)
    assert not np.array_equal(a.train_indices, c.train_indices)
    ya = np.concatenate(_collect(a.train_epochs(0, 1))[1])
    yc = np.concatenate(_collect(c.train_epochs(0, 1))[1])
    assert not np.array_equal(ya, yc)


def test_train_reshuffles_on_every_iteration(digits):
    first = np.concatenate(_collect(digits.train)[1])
    second = np.concatenate(_collect(digits.train)[1])
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first), np.sort(second))


def test_resumed_epochs_are_the_tail_of_an_uninterrupted_run(data_dir):
    bundle = kzoo.data.load("digits", data_dir=data_dir, augment=True, batch_size=256, seed=1)
    steps = bundle.steps_per_epoch
    full = _collect(bundle.train_epochs(0, 4))
    assert len(full[0]) == 4 * steps
    tail = _collect(bundle.train_epochs(2, 4))
    _assert_same_batches(tail, (full[0][2 * steps:], full[1][2 * steps:]))
    first, second = np.concatenate(full[1][:steps]), np.concatenate(full[1][steps:2 * steps])
    assert not np.array_equal(first, second)
    assert sum(1 for _ in bundle.train_epochs(3, 3)) == 0


def test_resumed_fit_matches_uninterrupted_fit(digits):
    def model():
        keras.utils.set_random_seed(1)
        net = keras.Sequential([
            keras.Input((8, 8, 1)), keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax"),
        ])
        net.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        return net

    steps = digits.steps_per_epoch
    fit = {"steps_per_epoch": steps, "verbose": 0, "shuffle": False}  # the bundle shuffles
    whole = model()
    whole.fit(digits.train_epochs(0, 4), epochs=4, **fit)
    resumed = model()
    resumed.fit(digits.train_epochs(0, 2), epochs=2, **fit)
    resumed.fit(digits.train_epochs(2, 4), initial_epoch=2, epochs=4, **fit)
    for w1, w2 in zip(whole.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    _, accuracy = whole.evaluate(digits.test, verbose=0)
    assert accuracy > 0.9
