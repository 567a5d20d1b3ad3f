import os

import numpy as np
import pytest
import tensorflow as tf

from kzoo.export import list_versions, read_metadata, verify_checksums
from kzoo.export import tflite as tflite_module
from kzoo.export.command import describe_saved_model
from kzoo.export.tflite import TFLITE_FILE, TFLiteMismatchError, convert_saved_model, run_tflite
from kzoo.utils.locks import LOCK_FILE

from .conftest import export_digits, served_reference, small_model


def test_tflite_model_is_published_in_the_version_and_matches_the_saved_model(
    trained_model, digits, tmp_path
):
    path = export_digits(trained_model, digits, tmp_path, tflite=True)
    meta = read_metadata(path)
    assert meta["tflite"]["file"] == TFLITE_FILE and meta["tflite"]["probe_size"] == 16
    assert meta["tflite"]["max_abs_diff"] <= 1e-5 and meta["tflite"]["class_id_mismatches"] == 0
    assert TFLITE_FILE in meta["files"] and verify_checksums(path, meta) == []
    flatbuffer = (path / TFLITE_FILE).read_bytes()
    assert len(flatbuffer) == meta["tflite"]["bytes"]

    x = digits["x"][:300]  # beyond the probe batch: the raw uint8 pixels a client sends
    lite = run_tflite(flatbuffer, x)
    served = tf.saved_model.load(str(path)).signatures["serving_default"](inputs=tf.constant(x))
    np.testing.assert_allclose(lite["probabilities"], served["probabilities"].numpy(), atol=1e-5)
    np.testing.assert_array_equal(lite["class_id"], served["class_id"].numpy())
    manual = served_reference(trained_model, digits, x)
    np.testing.assert_allclose(lite["probabilities"], manual, atol=1e-5)
    assert np.mean(lite["class_id"] == digits["y"][:300]) > 0.8
    assert any(line.startswith(f"tflite: {path / TFLITE_FILE}") for line in describe_saved_model(path))


def test_a_tflite_mismatch_fails_the_export_and_publishes_nothing(
    trained_model, digits, tmp_path, monkeypatch
):
    other = export_digits(small_model(), digits, tmp_path / "other")  # untrained, another network
    wrong = convert_saved_model(other)
    export_digits(trained_model, digits, tmp_path)
    monkeypatch.setattr(tflite_module, "convert_saved_model", lambda path: wrong)
    with pytest.raises(TFLiteMismatchError, match="differs from the SavedModel"):
        export_digits(trained_model, digits, tmp_path, tflite=True)
    assert list_versions(tmp_path / "digits_cnn") == [1]
    assert [n for n in os.listdir(tmp_path / "digits_cnn") if n != LOCK_FILE] == ["1"]
    assert read_metadata(tmp_path / "digits_cnn" / "1")["tflite"] is None
