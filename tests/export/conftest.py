import types

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import kzoo
from tests.helpers import count_trainable


@pytest.fixture(scope="session")
def digits():
    """UCI digits as the raw uint8 8x8x1 images a client sends, with their per-channel statistics."""
    data = load_digits()
    x = data.images.astype(np.uint8)[..., np.newaxis]
    return {
        "x": x,
        "y": data.target.astype(np.int64),
        "mean": np.array([x.mean()], np.float32),
        "std": np.array([x.std()], np.float32),
    }


SMALL_CNN = {"depth": 3, "width": 8}


def small_model(classes=10, activation="softmax"):
    """kzoo's plain CNN, cut down to a 6k-parameter digits classifier (conv + BN + ReLU x 3)."""
    return kzoo.create_model(
        "plain_cnn", input_shape=(8, 8, 1), classes=classes, classifier_activation=activation,
        **SMALL_CNN,
    )


def assert_builder_record_rebuilds(meta, model):
    """The export's builder record of a small-CNN digits run names the builder and every argument
    (classes and input shape included): building from it gives `model`'s architecture back."""
    builder = meta["model"]["builder"]
    assert builder == {
        "name": "plain_cnn",
        "kwargs": {"classes": 10, "input_shape": [8, 8, 1], **SMALL_CNN},
    }
    rebuilt = kzoo.create_model(builder["name"], **builder["kwargs"])
    assert count_trainable(rebuilt) == count_trainable(model) == meta["model"]["trainable_params"]
    assert rebuilt.input_shape == (None, 8, 8, 1) and rebuilt.output_shape == (None, 10)
    return rebuilt


def export_digits(model, digits, root, **kwargs):
    """`export_saved_model` of a digits classifier as "digits_cnn", serving raw uint8 pixels."""
    from kzoo.export import export_saved_model

    kwargs.setdefault("raw_dtype", "uint8")
    return export_saved_model(
        model, "digits_cnn", root=root, mean=digits["mean"], std=digits["std"], **kwargs
    )


def served_reference(model, digits, x):
    """What serving must compute: the training normalisation, then the in-memory model."""
    normalised = (x.astype(np.float32) - digits["mean"]) / digits["std"]
    return np.asarray(model(normalised, training=False))


@pytest.fixture
def finished_run(tmp_path, digits):
    """A finished run directory as `kzoo.training.train` leaves it, written with its own helpers
    (its model is built the way `train` builds it, untrained: these tests only read the files)."""
    from kzoo.training import TrainConfig, rundir
    from kzoo.training.engine import _normalization
    from kzoo.utils.files import atomic_write_json

    config = TrainConfig(
        model="plain_cnn", dataset="digits", run_dir=str(tmp_path / "run"), epochs=1,
        model_kwargs=SMALL_CNN, tensorboard=False, verbose=0,
    )
    run_dir = rundir.prepare_run_dir(config, rundir.check_run_dir(config))
    info = types.SimpleNamespace(
        name="digits", kind="image", input_shape=(8, 8, 1), num_classes=10,
        class_names=list(range(10)), mean=digits["mean"], std=digits["std"], raw_dtype="uint8",
        raw_range=(0, 16),
    )
    atomic_write_json(run_dir / "normalization.json", _normalization(info))
    model = kzoo.create_model(
        config.model, **{"classes": 10, "input_shape": (8, 8, 1), **config.model_kwargs}
    )
    kzoo.export.save_keras(model, run_dir / "model.keras")
    atomic_write_json(
        run_dir / rundir.METRICS, {"test_accuracy": 0.5, "fingerprint": config.fingerprint()}
    )
    assert rundir.check_run_dir(config) == "finished"
    return config, run_dir, model


@pytest.fixture
def model():
    return small_model()


@pytest.fixture(scope="session")
def trained_weights(digits):
    keras.utils.set_random_seed(1)
    m = small_model()
    m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    x = (digits["x"].astype(np.float32) - digits["mean"]) / digits["std"]
    m.fit(x, digits["y"], epochs=2, batch_size=16, verbose=0)
    return m.get_weights()


@pytest.fixture
def trained_model(trained_weights):
    """The small model after two epochs on normalised digits, so its predictions vary."""
    m = small_model()
    m.set_weights(trained_weights)
    return m
