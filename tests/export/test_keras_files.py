import codecs
import json
import marshal
import os
import stat
import zipfile

import h5py
import keras
import numpy as np
import pytest

import kzoo
from kzoo.export import (
    UnsafeModelFileError,
    find_unsafe_entries,
    load_keras,
    save_keras,
    scan_keras_file,
)
from kzoo.models import keras_files

from .conftest import small_model


def _layer(class_name, config, module="keras.layers", registered_name=None):
    return {
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered_name,
    }


def _write_archive(path, layers, tmp_path):
    """A `.keras` zip written by hand: config.json + metadata.json + model.weights.h5."""
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "crafted",
            "layers": [_layer("InputLayer", {"batch_shape": [None, 2], "dtype": "float32"}), *layers],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 2]},
    }
    weights = tmp_path / "weights.h5"
    with h5py.File(weights, "w") as f:
        f.create_group("vars")
        for layer in layers:
            f.create_group(f"layers/{layer['class_name'].lower()}/vars")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("config.json", json.dumps(config))
        archive.write(weights, "model.weights.h5")
    return path


def _lambda_archive(tmp_path, canary):
    """A Lambda layer whose Python function creates `canary` when the model is built."""

    payload = eval(f"lambda x: (open({str(canary)!r}, 'w').close(), x)[1]")
    code = codecs.encode(marshal.dumps(payload.__code__), "base64").decode("ascii")
    function = {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}
    lam = _layer("Lambda", {"name": "payload", "function": function, "arguments": {}})
    return _write_archive(tmp_path / "lambda.keras", [lam], tmp_path)


@pytest.fixture
def load_model_calls(monkeypatch):
    """Records every call that reaches Keras' deserialiser (where building a model starts)."""
    calls = []
    real = keras.saving.deserialize_keras_object

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "deserialize_keras_object", recording)
    return calls


def test_save_and_load_round_trip_a_kzoo_model(digits, tmp_path, load_model_calls):
    model = kzoo.create_model("resnet20", input_shape=(8, 8, 1), classes=10)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    path = save_keras(model, tmp_path / "resnet20.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet20.keras"]  # no temporary left
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_keras(model, path)
    assert find_unsafe_entries(scan_keras_file(path)) == []

    loaded = load_keras(path)
    assert load_model_calls[0][1]["safe_mode"] is True
    x = (digits["x"][:16].astype("float32") - digits["mean"]) / digits["std"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert loaded.count_params() == model.count_params()
    # The same state as Keras' own loader gives: weights and the optimizer's slots.
    reference = keras.saving.load_model(path, safe_mode=True)
    for ours, theirs in ((loaded, reference), (loaded, model)):
        assert len(ours.optimizer.variables) == len(theirs.optimizer.variables) > 1
        for a, b in zip(ours.weights + ours.optimizer.variables,
                        theirs.weights + theirs.optimizer.variables, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_crafted_lambda_archive_really_runs_its_payload_when_loaded_unsafely(tmp_path):
    """Control: the archive of the next test is a working attack, not a broken file."""
    canary = tmp_path / "canary"
    path = _lambda_archive(tmp_path, canary)
    keras.saving.load_model(path, safe_mode=False)
    assert canary.exists()


def test_lambda_archive_is_refused_before_anything_runs(tmp_path, load_model_calls):
    canary = tmp_path / "canary"
    path = _lambda_archive(tmp_path, canary)
    with pytest.raises(UnsafeModelFileError, match=r"config\.config\.layers\[1\]: class_name='Lambda'"):
        load_keras(path)
    assert not canary.exists()
    assert load_model_calls == []


@pytest.mark.parametrize(
    "layer, match",
    [
        (
            _layer("Popen", {"args": ["touch", "canary"]}, module="subprocess"),
            r"layers\[1\]: module='subprocess'",
        ),
        (
            _layer("Dense", {"units": 2, "activation": {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}}),
            r"layers\[1\]\.config\.activation: module='os'",
        ),
        (
            _layer("Thing", {}, module="kzoo.layers", registered_name="evil>Thing"),
            r"registered_name='evil>Thing'",
        ),
        (_layer("Lambda", {"function": "os.system"}), r"function='os.system'"),
        (_layer("TFSMLayer", {"filepath": "/tmp/graph"}), r"class_name='TFSMLayer'"),
        (_layer("Dense", {"units": 2}, module="builtins"), r"module='builtins'"),
    ],
)
def test_foreign_modules_and_functions_are_refused(tmp_path, load_model_calls, layer, match):
    path = _write_archive(tmp_path / "foreign.keras", [layer], tmp_path)
    with pytest.raises(UnsafeModelFileError, match=match) as info:
        load_keras(path)
    assert "Refusing to load" in str(info.value)
    assert load_model_calls == []


def test_malformed_archives_are_refused(tmp_path, load_model_calls):
    not_zip = tmp_path / "plain.keras"
    not_zip.write_text("{}")
    with pytest.raises(UnsafeModelFileError, match="is not a zip archive"):
        load_keras(not_zip)
    no_config = tmp_path / "empty.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(UnsafeModelFileError, match="config.json is missing"):
        load_keras(no_config)
    twice = tmp_path / "twice.keras"
    with zipfile.ZipFile(twice, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("config.json", "{}")
        archive.writestr("config.json", "{}")
    with pytest.raises(UnsafeModelFileError, match="config.json appears twice"):
        load_keras(twice)
    with pytest.raises(UnsafeModelFileError, match="must name a .keras file"):
        load_keras(tmp_path / "model.h5")
    assert load_model_calls == []


def test_save_keras_refuses_other_suffixes(tmp_path):
    with pytest.raises(ValueError, match="`path` must end in .keras"):
        save_keras(small_model(), tmp_path / "model.h5")
    assert list(tmp_path.iterdir()) == []


def test_a_file_swapped_after_the_scan_is_not_what_gets_loaded(digits, tmp_path, monkeypatch):
    """The archive is read once, through one open file: replacing it between the checks and the
    build changes nothing; the weights Keras reads are a private copy, deleted afterwards."""
    model = small_model()
    path = save_keras(model, tmp_path / "model.keras")
    canary = tmp_path / "canary"
    attack = _lambda_archive(tmp_path, canary)  # what an attacker swaps in after the scan
    real_find = keras_files.find_unsafe_entries

    def scan_then_swap(config, **kwargs):
        problems = real_find(config, **kwargs)
        if attack.exists():
            os.replace(attack, path)
        return problems

    loaded_from = []
    real_load_weights = keras.Model.load_weights

    def recording(self, filepath, *args, **kwargs):
        folder = os.path.dirname(filepath)
        loaded_from.append((str(filepath), stat.S_IMODE(os.stat(folder).st_mode)))
        return real_load_weights(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras_files, "find_unsafe_entries", scan_then_swap)
    monkeypatch.setattr(keras.Model, "load_weights", recording)
    loaded = load_keras(path)
    x = (digits["x"][:16].astype("float32") - digits["mean"]) / digits["std"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert not canary.exists()
    with pytest.raises(UnsafeModelFileError, match="Lambda"):
        scan_keras_file(path)  # the swap did happen
    [(private, mode)] = loaded_from
    assert not private.startswith(str(tmp_path)) and mode == 0o700
    assert not os.path.exists(os.path.dirname(private))  # the private copy is deleted after loading
