"""A SavedModel of a PCA / ZCA run applies the run's projection to raw inputs in one call."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA

import kzoo
from kzoo.data.normalize import fit_normalization
from kzoo.export import export_run, export_saved_model, read_metadata


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tensorflow_datasets")


@pytest.fixture(scope="module")
def wine():
    data = load_wine()
    return data.data.astype(np.float32), data.target.astype(np.int64)


def _mlp(input_shape):
    keras.utils.set_random_seed(3)
    return kzoo.create_model("plain_mlp", depth=1, width=8, input_shape=input_shape, classes=3)


def _serve(path, x):
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = signature(inputs=tf.constant(x))
    return out["probabilities"].numpy(), out["class_id"].numpy()


def test_pca_signature_takes_raw_rows_and_matches_numpy(wine, tmp_path):
    x, _ = wine
    norm = fit_normalization(x[:150], "pca", pca_components=5)
    model = _mlp((5,))
    path = export_saved_model(model, "wine_pca", root=tmp_path, mean=norm.mean, std=norm.std,
                              projection=norm.projection, raw_shape=norm.raw_shape)
    raw = x[150:]
    probabilities, class_id = _serve(path, raw)
    # NumPy reference: scikit-learn's PCA of the same rows, then the Keras model.
    components = PCA(n_components=5).fit(x[:150].astype(np.float64)).transform(raw)
    expected = model.predict(components.astype(np.float32), verbose=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)
    np.testing.assert_array_equal(class_id, expected.argmax(axis=1))
    signature = read_metadata(path)["signature"]
    assert signature["input"]["shape"] == [None, 13]
    assert signature["normalization"]["model_input_shape"] == [5]
    assert signature["normalization"]["projection"]["shape"] == [13, 5]
    assert "@ projection" in signature["normalization"]["formula"]


def test_projection_arguments_are_checked(wine, tmp_path):
    x, _ = wine
    norm = fit_normalization(x, "pca", pca_components=5)
    model = _mlp((5,))
    with pytest.raises(ValueError, match="needs `raw_shape`"):
        export_saved_model(model, "a", root=tmp_path, projection=norm.projection)
    with pytest.raises(ValueError, match=r"must be a finite \(13, 5\) matrix"):
        export_saved_model(model, "a", root=tmp_path, projection=norm.projection[:, :4],
                           raw_shape=(13,))
    with pytest.raises(ValueError, match="only a `projection` can map"):
        export_saved_model(model, "a", root=tmp_path, raw_shape=(13,))
    assert not (tmp_path / "a").exists()


def _finished_run(tmp_path, normalize, data_dir):
    """A finished ZCA / PCA run directory written by the engine's own helpers (model untrained)."""
    from kzoo.training import TrainConfig, rundir
    from kzoo.training.engine import _normalization
    from kzoo.utils.files import atomic_write_json

    config = TrainConfig(model="plain_mlp", dataset="wine", run_dir=str(tmp_path / "run"),
                         epochs=1, normalize=normalize, model_kwargs={"depth": 1, "width": 8},
                         tensorboard=False, verbose=0)
    run_dir = rundir.prepare_run_dir(config, rundir.check_run_dir(config))
    info = kzoo.data.load("wine", normalize=normalize, data_dir=data_dir).info
    atomic_write_json(run_dir / "normalization.json", _normalization(info))
    model = _mlp(info.input_shape)
    kzoo.export.save_keras(model, run_dir / "model.keras")
    atomic_write_json(run_dir / rundir.METRICS, {"test_accuracy": 0.5,
                                                 "fingerprint": config.fingerprint()})
    return run_dir, info, model


def test_export_run_applies_the_recorded_zca_whitening(tmp_path, data_dir):
    run_dir, info, model = _finished_run(tmp_path, "zca", data_dir)
    record = json.loads((run_dir / "normalization.json").read_text())
    assert record["method"] == "zca" and record["raw_shape"] == [13]
    assert record["projection"]["shape"] == [13, 13] and record["epsilon"] == 1e-5
    path = export_run(run_dir, "wine_zca", root=tmp_path / "saved_models")
    raw = kzoo.data.load_arrays("wine", data_dir=data_dir)["x_test"]
    probabilities, _ = _serve(path, raw)
    # NumPy reference of the whitening, from the run's own training statistics.
    mean = np.asarray(info.mean, np.float64)
    whitening = info.normalization.projection.astype(np.float64)
    expected = model.predict(((raw - mean) @ whitening).astype(np.float32), verbose=0)
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_a_tampered_projection_is_refused(tmp_path, data_dir):
    run_dir, _, _ = _finished_run(tmp_path, "pca", data_dir)
    record = json.loads((run_dir / "normalization.json").read_text())
    record["projection"]["sha256"] = "0" * 64
    (run_dir / "normalization.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="projection that cannot be read.*sha256"):
        export_run(run_dir, "wine_pca", root=tmp_path / "saved_models")


@pytest.mark.slow
def test_a_trained_pca_run_serves_raw_rows_with_its_test_accuracy(tmp_path, data_dir):
    from kzoo.training import TrainConfig, train

    config = TrainConfig(model="plain_mlp", dataset="wine", run_dir=str(tmp_path / "run"),
                         normalize="pca", epochs=30, batch_size=16, optimizer="adam",
                         learning_rate=1e-2, model_kwargs={"depth": 1, "width": 16},
                         data_dir=str(data_dir), tensorboard=False, verbose=0)
    result = train(config)
    record = json.loads((tmp_path / "run" / "normalization.json").read_text())
    assert record["method"] == "pca" and record["input_shape"] == [13]
    path = export_run(tmp_path / "run", "wine_pca", root=tmp_path / "saved_models")
    arrays = kzoo.data.load_arrays("wine", data_dir=data_dir)
    _, class_id = _serve(path, arrays["x_test"].astype(np.float32))
    accuracy = float(np.mean(class_id == arrays["y_test"]))
    assert accuracy == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)  # float32 metric
    assert accuracy > 0.9  # 36 test wines; decorrelated inputs train a small MLP well
