"""TFLite at the edges an edited version or an unusual model reaches: a file whose edited metadata
matches it but is no TFLite model, metadata whose input is not the TFLite model's, a bfloat16 layer
inside a nested model, a bfloat16 model with no float32 twin. Each is a one-line refusal (or a
conversion through the twin), never a traceback."""

import hashlib
import json
import os
import shutil

import keras
import numpy as np
import pytest

import kzoo
from kzoo.cli import main
from kzoo.export import export_saved_model, list_versions, read_metadata
from kzoo.export.metadata import METADATA_FILE
from kzoo.export.tflite import TFLITE_FILE, compute_dtype, float32_twin, run_tflite
from kzoo.training.precision import precision_policy
from kzoo.utils.errors import UserError

from .conftest import export_digits


@pytest.fixture(scope="module")
def lite_export(trained_weights, digits, tmp_path_factory):
    """The trained float32 digits CNN exported with --tflite and its raw range."""
    from .conftest import small_model

    model = small_model()
    model.set_weights(trained_weights)
    return export_digits(model, digits, tmp_path_factory.mktemp("lite"), tflite=True,
                         raw_range=(0, 16))


def _copy(version, tmp_path, name):
    copy = tmp_path / name / "1"
    shutil.copytree(version, copy)
    return copy


def _edit_metadata(version, edit):
    path = version / METADATA_FILE
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def _replace_tflite(version, data: bytes):
    """Write `data` as the TFLite file and edit the metadata to match it (size and sha256)."""
    (version / TFLITE_FILE).write_bytes(data)

    def edit(meta):
        meta["tflite"]["bytes"] = len(data)
        meta["files"][TFLITE_FILE] = hashlib.sha256(data).hexdigest()

    _edit_metadata(version, edit)


def _refused(args, capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and not captured.out, captured.err
    assert lines[0].startswith("kzoo predict: error: --tflite: "), lines[0]
    return lines[0]


@pytest.mark.parametrize("content", ["empty", "truncated", "zeros"])
def test_predict_tflite_refuses_a_file_that_is_no_tflite_model_though_its_metadata_matches(
    lite_export, digits, tmp_path, capsys, content
):
    batch = tmp_path / "batch.npy"
    np.save(batch, digits["x"][:2])
    original = (lite_export / TFLITE_FILE).read_bytes()
    data = {"empty": b"", "truncated": original[:1000], "zeros": bytes(64)}[content]
    version = _copy(lite_export, tmp_path, content)
    _replace_tflite(version, data)
    line = _refused(["predict", str(version), str(batch), "--tflite"], capsys)
    assert "is not a TFLite model" in line or "is not a TensorFlow Lite model" in line
    if content != "truncated":  # no TFLite identifier: refused before the inputs are read
        line = _refused(["predict", str(version), str(tmp_path / "absent.npy"), "--tflite"], capsys)
        assert "is not a TensorFlow Lite model" in line


def test_predict_tflite_checks_the_file_before_reading_inputs(lite_export, tmp_path, capsys):
    version = _copy(lite_export, tmp_path, "gone")
    os.remove(version / TFLITE_FILE)
    line = _refused(["predict", str(version), str(tmp_path / "absent.npy"), "--tflite"], capsys)
    assert "is missing, though the metadata records it" in line


@pytest.mark.parametrize("dtype", ["float64", "string"])
def test_predict_tflite_refuses_metadata_whose_input_is_not_the_tflite_models(
    lite_export, digits, tmp_path, capsys, monkeypatch, dtype
):
    import kzoo.export.loaded_model as loaded_model

    def no_saved_model(*args, **kwargs):
        raise AssertionError("--tflite loaded the SavedModel")

    monkeypatch.setattr(loaded_model, "load_saved_model", no_saved_model)
    batch = tmp_path / "batch.npy"
    np.save(batch, digits["x"][:2])
    version = _copy(lite_export, tmp_path, dtype)
    _edit_metadata(version, lambda meta: meta["signature"]["input"].update(dtype=dtype))
    line = _refused(["predict", str(version), str(batch), "--tflite"], capsys)
    assert dtype in line


def test_a_bfloat16_layer_inside_a_nested_model_converts_through_the_float32_twin(
    digits, tmp_path
):
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, dtype="mixed_bfloat16"),
        keras.layers.Flatten(),
    ])
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inner(inputs)))
    assert compute_dtype(model) == "bfloat16"
    path = export_digits(model, digits, tmp_path, tflite=True)
    lite_meta = read_metadata(path)["tflite"]
    assert lite_meta["converted_from"] == "float32 twin"
    assert lite_meta["saved_model_compute_dtype"] == "bfloat16"
    assert run_tflite((path / TFLITE_FILE).read_bytes(), digits["x"][:4])["probabilities"].shape == (4, 10)


def test_a_bfloat16_model_without_a_float32_twin_is_refused_in_one_line(digits, tmp_path):
    # A Lambda layer's Python function is not rebuilt from its config (Keras' safe mode).
    with precision_policy("mixed_bfloat16"):
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Lambda(lambda t: t * 2)(keras.layers.Flatten()(inputs))
        outputs = keras.layers.Dense(10, activation="softmax", dtype="float32")(x)
        model = keras.Model(inputs, outputs)
    with pytest.raises(UserError, match=r"^--tflite: .*float32 twin cannot be built") as err:
        export_digits(model, digits, tmp_path, tflite=True)
    assert "\n" not in str(err.value)
    assert list_versions(tmp_path / "digits_cnn") == []


def test_the_float32_twin_reaches_the_layers_a_wrapper_rebuilds_from_its_config(tmp_path):
    # kzoo's gru: a Bidirectional wrapper rebuilds its two GRUs from the dtype in its own config.
    with precision_policy("mixed_bfloat16"):
        model = kzoo.create_model("gru", input_shape=(5, 4), classes=3)
    assert compute_dtype(model) == "bfloat16"
    assert compute_dtype(float32_twin(model)) == "float32"
    # TFLite's builtin ops have no tensor lists of unknown shape (the RNN's loop): a one-line
    # refusal naming --tflite, not the converter's traceback, and nothing published.
    with pytest.raises(UserError, match=r"^--tflite: the TensorFlow Lite converter cannot") as err:
        export_saved_model(model, "gru", root=tmp_path, tflite=True)
    assert "\n" not in str(err.value) and len(str(err.value)) < 500
    assert list_versions(tmp_path / "gru") == []


def test_predict_tflite_refuses_a_file_over_2_gib_saying_so(lite_export, tmp_path, capsys):
    version = _copy(lite_export, tmp_path, "huge")
    os.truncate(version / TFLITE_FILE, 2**31 + 1)  # sparse: no disk used, and never read
    _edit_metadata(version, lambda meta: meta["tflite"].update(bytes=2**31 + 1))
    line = _refused(["predict", str(version), str(tmp_path / "absent.npy"), "--tflite"], capsys)
    assert "more than the 2,147,483,648 a TFLite model can have" in line


def test_metadata_naming_another_tflite_file_is_refused(lite_export, tmp_path, capsys):
    # predict --tflite reads assets.extra/model.tflite: info must not show another file as the model.
    version = _copy(lite_export, tmp_path, "renamed")
    _edit_metadata(version, lambda meta: meta["tflite"].update(file="assets.extra/other.tflite"))
    assert main(["info", str(version)]) == 2
    captured = capsys.readouterr()
    assert not captured.out and "`tflite.file` must be 'assets.extra/model.tflite'" in captured.err


def test_a_model_whose_softmax_computes_in_bfloat16_exports_with_tflite(digits, tmp_path):
    # A Keras model built under mixed_bfloat16 that ends in Dense(softmax) without dtype="float32":
    # its rounded probabilities sum to 1 within bfloat16's precision, not 1e-3, and are no logits.
    keras.utils.set_random_seed(0)
    with precision_policy("mixed_bfloat16"):
        model = keras.Sequential([
            keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ])
    path = export_digits(model, digits, tmp_path, tflite=True)
    lite_meta = read_metadata(path)["tflite"]
    assert lite_meta["converted_from"] == "float32 twin" and lite_meta["max_abs_diff"] <= 1e-5
    assert lite_meta["vs_saved_model"]["max_abs_diff"] < 0.05


def test_the_float32_twin_is_float32_when_the_global_policy_is_mixed_bfloat16(trained_weights):
    # kzoo's default policy on bf16 CPUs may still be set when a model is exported from Python.
    from .conftest import small_model

    with precision_policy("mixed_bfloat16"):
        model = small_model()
        model.set_weights(trained_weights)
        twin = float32_twin(model)
    assert compute_dtype(model) == "bfloat16" and compute_dtype(twin) == "float32"
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype(np.float32)
    reference = small_model()
    reference.set_weights(trained_weights)
    np.testing.assert_allclose(np.asarray(twin(x)), np.asarray(reference(x)), atol=1e-5)
