"""Configs that name something other than a part of a model, and builds that change Keras itself.

Keras' safe mode keeps a deny-list; kzoo allows only the namespaces that hold model parts. Each
case below names a Keras-internal function or class that safe mode lets through (or refuses with a
traceback), and must be refused by `load_keras` and `kzoo export` with Keras' process-wide settings
unchanged afterwards.
"""

from __future__ import annotations

import keras
import pytest
from keras.src.backend.common import global_state

from kzoo.export import UnsafeModelFileError, list_versions, load_keras
from kzoo.models import keras_files

from .conftest import Case, run_api, run_cli_in_process
from .crafting import dense, function, keras_members, layers, with_config, write_zip


def _settings():
    return (
        keras.config.epsilon(), keras.config.floatx(), keras.config.image_data_format(),
        keras.config.dtype_policy().name, keras.distribution.distribution(),
        global_state.get_global_attribute("safe_mode_saving"),
    )


def _case(tmp_path, g, edit, match) -> Case:
    path = tmp_path / "crafted.keras"
    write_zip(path, keras_members(with_config(g.parts, edit)))
    root = tmp_path / "root"
    before = _settings()

    def unchanged():
        assert _settings() == before
        assert list_versions(root / "m") == []

    return Case(
        argv=["export", str(path), "--name", "m", "--root", str(root)],
        api=lambda: load_keras(path), match=match, error=UnsafeModelFileError, check=unchanged,
    )


def _activation(module, name):
    def edit(config):
        dense(config)["config"]["activation"] = function(module, name)

    return edit


def set_epsilon_as_activation(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.config", "set_epsilon"),
                 r"module='keras\.config' \(keras\.config is not a namespace a model may reference")


def set_distribution_as_activation(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.distribution", "set_distribution"),
                 r"module='keras\.distribution'")


def enable_unsafe_deserialization_as_activation(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.config", "enable_unsafe_deserialization"),
                 r"module='keras\.config'")


def set_random_seed_from_keras_utils(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.utils", "set_random_seed"),
                 r"module='keras\.utils'")


def clone_model_from_keras_models(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.models", "clone_model"), r"module='keras\.models'")


def get_custom_objects_from_keras_saving(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.saving", "get_custom_objects"),
                 r"module='keras\.saving'")


def clear_session_from_keras_backend(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.backend", "clear_session"), r"module='keras\.backend'")


def internal_module_outside_the_families(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.src.backend.config", "set_epsilon"),
                 r"module='keras\.src\.backend\.config'")


def a_family_helper_that_deserialises(tmp_path, g):
    return _case(tmp_path, g, _activation("keras.activations", "deserialize"),
                 r"config='deserialize' \(not a function a model may name\)")


def a_family_helper_as_a_class(tmp_path, g):
    def edit(config):
        layers(config)[-1]["class_name"] = "deserialize"

    return _case(tmp_path, g, edit, r"class_name='deserialize' \(not a part of a model\)")


def a_builtin_name_claiming_another_registration(tmp_path, g):
    def edit(config):
        dense(config)["registered_name"] = "Lambda"

    return _case(tmp_path, g, edit, r"registered_name='Lambda' \(not the name of the object")


def a_kzoo_name_kzoo_never_registered(tmp_path, g):
    def edit(config):
        dense(config).update(module="kzoo.layers.residual", registered_name="kzoo>Backdoor")

    return _case(tmp_path, g, edit, r"registered_name='kzoo>Backdoor' \(not an object kzoo registers\)")


def a_lookup_layer_reading_a_vocabulary_file(tmp_path, g):
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")

    def edit(config):
        layers(config).append({
            "module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
            "config": {"name": "lookup", "vocabulary": str(secret)},
        })

    return _case(tmp_path, g, edit, r"vocabulary='.*secret\.txt' \(a file path")


def a_typespec_marker(tmp_path, g):
    def edit(config):
        dense(config)["config"]["bias_initializer"] = {
            "class_name": "__typespec__", "spec_name": "TensorSpec", "module": "tensorflow",
            "registered_name": None, "config": [[3], "float32", None],
        }

    return _case(tmp_path, g, edit, r"class_name='__typespec__'")


def a_config_keras_cannot_build(tmp_path, g):
    def edit(config):
        dense(config)["config"]["units"] = "many"

    return _case(tmp_path, g, edit, r"config\.json Keras refused to build it in safe mode")


CASES = [
    set_epsilon_as_activation, set_distribution_as_activation,
    enable_unsafe_deserialization_as_activation, set_random_seed_from_keras_utils,
    clone_model_from_keras_models, get_custom_objects_from_keras_saving,
    clear_session_from_keras_backend, internal_module_outside_the_families,
    a_family_helper_that_deserialises, a_family_helper_as_a_class,
    a_builtin_name_claiming_another_registration, a_kzoo_name_kzoo_never_registered,
    a_lookup_layer_reading_a_vocabulary_file, a_typespec_marker, a_config_keras_cannot_build,
]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_the_python_api(make, tmp_path, genuine):
    run_api(make(tmp_path, genuine))


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_kzoo_export(make, tmp_path, genuine, capsys):
    run_cli_in_process(make(tmp_path, genuine), capsys)


def test_set_epsilon_really_changes_keras_when_safe_mode_alone_guards(tmp_path, genuine):
    """Control: the first case is a working attack on Keras' own loader, not a broken file: safe
    mode loads it, and calling the model replaces Keras' epsilon for everything after it."""
    import numpy as np

    case = set_epsilon_as_activation(tmp_path, genuine)
    before = keras.config.epsilon()
    try:
        model = keras.saving.load_model(case.argv[1], safe_mode=True)
        model(np.zeros((1, 8, 8, 1), "float32"))
        assert keras.config.epsilon() is not before
    finally:
        keras.config.set_epsilon(before)


@pytest.fixture
def epsilon_changer():
    """A part registered under kzoo's name that changes Keras' epsilon when it is built: what a
    future registered object with a bug would do. Unregistered afterwards."""
    from keras.src.saving import object_registration

    @keras.saving.register_keras_serializable(package="kzoo", name="TestEpsilonChanger")
    class EpsilonChanger(keras.layers.Layer):
        def build(self, input_shape):
            keras.config.set_epsilon(0.25)

        def call(self, x):
            return x

    yield "kzoo>TestEpsilonChanger"
    object_registration.GLOBAL_CUSTOM_OBJECTS.pop("kzoo>TestEpsilonChanger", None)
    object_registration.GLOBAL_CUSTOM_NAMES.pop(EpsilonChanger, None)


def test_a_part_that_changes_keras_settings_is_refused_and_undone(tmp_path, genuine, epsilon_changer):
    def edit(config):
        inner = layers(config)
        dense_layer = dense(config)
        changer = {
            "module": "kzoo.layers.testing", "class_name": "EpsilonChanger", "name": "changer",
            "registered_name": epsilon_changer,
            "config": {"name": "changer", "trainable": True, "dtype": dense_layer["config"]["dtype"]},
            "build_config": {"input_shape": [None, 3]},
            "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [None, 3], "dtype": "float32", "keras_history": [dense_layer["name"], 0, 0]}}],
                "kwargs": {}}],
        }
        inner.append(changer)
        config["config"]["output_layers"] = ["changer", 0, 0]

    case = _case(tmp_path, genuine, edit, r"changed Keras' process-wide settings \(epsilon\)")
    run_api(case)
    registered = {k for k in keras.saving.get_custom_objects() if k.startswith("kzoo>")}
    assert epsilon_changer in registered  # the refusal came from the comparison, not the list


def test_keras_safe_mode_refusals_come_out_as_unsafe_model_file_errors(tmp_path, genuine, monkeypatch):
    """With kzoo's list switched off, Keras' own refusal of a Lambda is still one kzoo error."""
    import base64
    import marshal

    canary = tmp_path / "canary"
    code = base64.b64encode(marshal.dumps(
        eval(f"lambda x: (open({str(canary)!r}, 'w').close(), x)[1]").__code__  # noqa: S307
    )).decode()

    def edit(config):
        dense_layer = dense(config)
        dense_layer.update(class_name="Lambda", registered_name=None)
        dense_layer["config"] = {"name": "dense", "function": {
            "class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
            "arguments": {}}

    monkeypatch.setattr(keras_files, "find_unsafe_entries", lambda *a, **k: [])
    case = _case(tmp_path, genuine, edit, r"config\.json Keras refused to build it in safe mode")
    run_api(case)
    assert not canary.exists()
