import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.export import (
    METADATA_FILE,
    ExportVerificationError,
    export_saved_model,
    list_versions,
    load_saved_model,
    read_metadata,
    verify_checksums,
)
from kzoo.export import saved_model as saved_model_module
from kzoo.utils import publish as _atomic
from kzoo.utils.locks import HOLDER_FILE, LOCK_FILE

from .conftest import export_digits, served_reference, small_model

DIGIT_NAMES = [f"digit {i}" for i in range(10)]


def _entries(model_dir):
    """What a model directory holds besides the lock files of one writer per name (a killed
    exporter leaves its holder record; the next export replaces and removes it)."""
    return [n for n in os.listdir(model_dir) if n not in (LOCK_FILE, HOLDER_FILE)]


def test_reloaded_signature_equals_manual_normalisation_and_model(trained_model, digits, tmp_path):
    path = export_digits(trained_model, digits, tmp_path, class_names=DIGIT_NAMES)
    assert path == tmp_path / "digits_cnn" / "1"
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    spec = signature.structured_input_signature[1]["inputs"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 8, 8, 1]
    assert set(signature.structured_outputs) == {"probabilities", "class_id"}

    x = digits["x"][:300]
    out = signature(inputs=tf.constant(x))
    expected = served_reference(trained_model, digits, x)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(out["class_id"].numpy(), expected.argmax(-1))
    assert out["class_id"].dtype == tf.int64
    # The model is trained: predictions vary and mostly match the labels.
    assert len(np.unique(expected.argmax(-1))) >= 5
    assert np.mean(expected.argmax(-1) == digits["y"][:300]) > 0.8
    # Feeding the raw pixels to the model without the normalisation gives other numbers.
    unnormalised = np.asarray(trained_model(x.astype(np.float32), training=False))
    assert np.abs(unnormalised - expected).max() > 1e-2


def test_served_model_predicts_like_the_in_memory_model(trained_model, digits, tmp_path):
    export_digits(trained_model, digits, tmp_path, class_names=DIGIT_NAMES)
    served = load_saved_model(tmp_path / "digits_cnn")  # the model directory: its latest version
    assert served.input_shape == (8, 8, 1) and served.input_dtype == "uint8"
    assert served.class_names == DIGIT_NAMES
    out = served.predict(digits["x"][:64])
    expected = served_reference(trained_model, digits, digits["x"][:64])
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-6)
    np.testing.assert_array_equal(out["class_id"], expected.argmax(-1))
    one = served.predict(digits["x"][5])  # one example without the batch axis
    np.testing.assert_allclose(one["probabilities"][0], expected[5], atol=1e-6)


def test_versions_increment_and_explicit_versions(model, digits, tmp_path):
    assert [export_digits(model, digits, tmp_path).name for _ in range(2)] == ["1", "2"]
    assert export_digits(model, digits, tmp_path, version=7).name == "7"
    assert export_digits(model, digits, tmp_path).name == "8"
    assert list_versions(tmp_path / "digits_cnn") == [1, 2, 7, 8]
    # Nothing but numeric version directories under <name>/ (TF Serving's layout).
    assert sorted(_entries(tmp_path / "digits_cnn")) == ["1", "2", "7", "8"]
    assert read_metadata(tmp_path / "digits_cnn" / "7")["version"] == 7


def test_existing_version_refused_without_force_and_replaced_with_it(digits, tmp_path):
    first, second = small_model(), small_model()
    path = export_digits(first, digits, tmp_path)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match="force"):
        export_digits(second, digits, tmp_path, version=1)
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before

    assert export_digits(second, digits, tmp_path, version=1, force=True) == path
    assert sorted(_entries(tmp_path / "digits_cnn")) == ["1"]
    x = digits["x"][:32]
    out = load_saved_model(path).predict(x)["probabilities"]
    np.testing.assert_allclose(out, served_reference(second, digits, x), atol=1e-6)
    assert np.abs(out - served_reference(first, digits, x)).max() > 1e-3


def test_failure_after_files_are_written_leaves_no_visible_version(
    model, digits, tmp_path, monkeypatch
):
    export_digits(model, digits, tmp_path)
    written = []

    def crash(staging, record):
        written.extend(p.name for p in staging.rglob("*"))
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(saved_model_module, "write_metadata", crash)
    for kwargs in ({}, {"version": 1, "force": True}, {"version": 5}):
        with pytest.raises(RuntimeError, match="simulated crash"):
            export_digits(small_model(), digits, tmp_path, **kwargs)
    assert "saved_model.pb" in written  # the crash came after the SavedModel was on disk
    assert _entries(tmp_path / "digits_cnn") == ["1"]  # no staging directory left either
    x = digits["x"][:16]
    np.testing.assert_allclose(
        load_saved_model(tmp_path / "digits_cnn" / "1").predict(x)["probabilities"],
        served_reference(model, digits, x),
        atol=1e-6,
    )


@pytest.mark.slow
def test_killed_process_leaves_earlier_version_serving(model, digits, tmp_path):
    """A process killed mid-export (no cleanup runs) leaves only a hidden staging directory."""
    export_digits(model, digits, tmp_path)
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from kzoo.export import saved_model
        from tests.export.conftest import small_model
        saved_model.write_metadata = lambda *a, **k: os._exit(17)
        saved_model.export_saved_model(small_model(), "digits_cnn", root={str(tmp_path)!r},
                                       raw_dtype="uint8", mean=[5.0], std=[6.0])
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, timeout=300)
    assert result.returncode == 17
    leftovers = [n for n in _entries(tmp_path / "digits_cnn") if n != "1"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".")  # the abandoned staging directory
    assert (tmp_path / "digits_cnn" / leftovers[0] / "saved_model.pb").exists()
    assert list_versions(tmp_path / "digits_cnn") == [1]
    served = load_saved_model(tmp_path / "digits_cnn")
    assert served.path.name == "1"
    np.testing.assert_allclose(
        served.predict(digits["x"][:16])["probabilities"],
        served_reference(model, digits, digits["x"][:16]),
        atol=1e-6,
    )
    assert export_digits(model, digits, tmp_path).name == "2"
    assert sorted(_entries(tmp_path / "digits_cnn")) == ["1", "2"]  # the leftover is cleared


# Makes a staging directory with kzoo's own `make_staging_dir`, loading only that stdlib-only file
# (not the kzoo package, which imports TensorFlow); "stay" keeps the process alive afterwards.
_STAGE = textwrap.dedent(
    """
    import importlib.util, pathlib, sys, time
    spec = importlib.util.spec_from_file_location("_atomic", sys.argv[1])
    atomic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(atomic)
    staging = atomic.make_staging_dir(pathlib.Path(sys.argv[2]))
    (staging / "saved_model.pb").write_bytes(b"half written")
    print(staging, flush=True)
    if sys.argv[3] == "stay":
        time.sleep(300)
    """
)


def test_staging_dirs_of_killed_exports_are_removed_and_live_ones_kept(model, digits, tmp_path):
    model_dir = tmp_path / "digits_cnn"
    model_dir.mkdir()
    command = [sys.executable, "-c", _STAGE, _atomic.__file__, str(model_dir)]
    exited = subprocess.run(command + ["exit"], capture_output=True, text=True, check=True)
    dead = Path(exited.stdout.strip())
    running = subprocess.Popen(command + ["stay"], stdout=subprocess.PIPE, text=True)
    try:
        live = Path(running.stdout.readline().strip())
        unknown = model_dir / ".tmp-not-made-by-kzoo"  # no owner recorded: not provably stale
        unknown.mkdir()
        assert dead.is_dir() and live.is_dir() and dead.parent == live.parent == model_dir
        assert live.name.split("-")[2] == str(running.pid)

        assert export_digits(model, digits, tmp_path).name == "1"
        assert sorted(_entries(model_dir)) == sorted(["1", live.name, unknown.name])
        assert (live / "saved_model.pb").read_bytes() == b"half written"
        assert running.poll() is None  # the owner was alive throughout
    finally:
        running.kill()
        running.wait()
    assert export_digits(model, digits, tmp_path).name == "2"  # now its owner is gone too
    assert sorted(_entries(model_dir)) == sorted(["1", "2", unknown.name])


def test_verification_mismatch_fails_the_export_and_publishes_nothing(
    model, digits, tmp_path, monkeypatch
):
    real = saved_model_module._reference_probabilities

    def off_by_a_bit(*args):
        expected = real(*args)
        return expected + np.where(np.arange(expected.shape[1]) == 0, 1e-3, 0.0)

    monkeypatch.setattr(saved_model_module, "_reference_probabilities", off_by_a_bit)
    with pytest.raises(ExportVerificationError, match=r"max absolute probability difference 0\.001"):
        export_digits(model, digits, tmp_path)
    assert _entries(tmp_path / "digits_cnn") == []  # only the name's lock file is left


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../escape", "a/b", "/abs", "a\\b", "a\0b", ".hidden", "x" * 129, None, 3]
)
def test_hostile_names_are_refused_before_anything_is_written(model, tmp_path, name):
    root = tmp_path / "root"
    with pytest.raises(ValueError, match=r"`name` must be .*received name="):
        export_saved_model(model, name, root=root)
    assert not root.exists()


@pytest.mark.parametrize("version", [0, -1, True, 1.5, "2", 10**18])
def test_versions_must_be_positive_ints(model, tmp_path, version):
    with pytest.raises(ValueError, match="`version` must be a positive integer"):
        export_saved_model(model, "ok", root=tmp_path / "root", version=version)
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mean": [1.0, 2.0]}, "`mean` must be finite and broadcast"),
        ({"std": [0.0]}, "`std` must be > 0"),
        ({"raw_dtype": "string"}, "`raw_dtype` must be one of"),
        ({"class_names": ["a", "b"]}, "`class_names` must be 10 strings"),
        ({"metrics": {"acc": object()}}, "`metrics` must be JSON-serialisable"),
        ({"probe": np.zeros((4, 8, 8), np.uint8)}, r"`probe` must be a non-empty batch of shape \(N, 8, 8, 1\)"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(model, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_saved_model(model, "ok", root=tmp_path / "root", **kwargs)
    assert not (tmp_path / "root").exists()


def test_logits_models_need_from_logits(digits, tmp_path):
    logits_model = small_model(activation=None)
    with pytest.raises(ValueError, match="from_logits=True"):
        export_digits(logits_model, digits, tmp_path)
    path = export_digits(logits_model, digits, tmp_path, from_logits=True)
    x = digits["x"][:32]
    out = load_saved_model(path).predict(x)
    logits = served_reference(logits_model, digits, x)
    np.testing.assert_allclose(out["probabilities"], tf.nn.softmax(logits).numpy(), atol=1e-6)
    np.testing.assert_array_equal(out["class_id"], logits.argmax(-1))


def test_metadata_describes_the_export_and_its_checksums_match(trained_model, digits, tmp_path):
    path = export_digits(
        trained_model,
        digits,
        tmp_path,
        class_names=DIGIT_NAMES,
        builder={"name": "small_cnn", "kwargs": {"classes": 10}},
        metrics={"test_accuracy": np.float32(0.875)},
    )
    meta = json.loads((path / METADATA_FILE).read_text())
    assert meta["name"] == "digits_cnn" and meta["version"] == 1
    assert meta["classes"] == DIGIT_NAMES
    assert meta["signature"]["input"] == {"name": "inputs", "shape": [None, 8, 8, 1], "dtype": "uint8"}
    np.testing.assert_allclose(meta["signature"]["normalization"]["mean"], digits["mean"])
    np.testing.assert_allclose(meta["signature"]["normalization"]["std"], digits["std"])
    assert meta["model"]["builder"] == {"name": "small_cnn", "kwargs": {"classes": 10}}
    assert meta["model"]["trainable_params"] == sum(w.numpy().size for w in trained_model.trainable_weights)
    assert meta["model"]["keras_config"]["config"]["name"] == "plain_cnn"
    assert meta["metrics"] == {"test_accuracy": 0.875}
    assert meta["versions"]["kzoo"] == kzoo.__version__
    assert meta["versions"]["keras"] == keras.__version__
    assert meta["versions"]["tensorflow"] == tf.__version__
    assert meta["verification"]["probe_size"] == 16
    assert meta["verification"]["max_abs_diff"] <= 1e-5

    on_disk = {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in path.rglob("*")
        if p.is_file() and p.name != "kzoo_metadata.json"
    }
    assert "saved_model.pb" in on_disk and "variables/variables.index" in on_disk
    assert meta["files"] == on_disk
    assert verify_checksums(path, meta) == []
    with open(path / "variables" / "variables.index", "ab") as f:
        f.write(b"tampered")
    assert verify_checksums(path, meta) == ["checksum differs: variables/variables.index"]


def test_a_version_claimed_concurrently_is_skipped_not_overwritten(model, digits, tmp_path, monkeypatch):
    first = export_digits(model, digits, tmp_path)
    before = (first / "saved_model.pb").read_bytes()
    answers = iter([1])  # as if another process published version 1 after we counted

    real = saved_model_module.next_version
    monkeypatch.setattr(
        saved_model_module, "next_version", lambda d: next(answers, None) or real(d)
    )
    assert export_digits(small_model(), digits, tmp_path).name == "2"
    assert (first / "saved_model.pb").read_bytes() == before
    assert read_metadata(tmp_path / "digits_cnn" / "2")["version"] == 2


def test_bfloat16_resnet_with_folded_batch_norm_verifies_at_the_default_tolerance(tmp_path):
    """The serving graph fuses conv + folded BN + ReLU (one bf16 rounding); the reference must too.

    With these weights an eager reference (separate ops, two roundings) differs by ~3e-2.
    """
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(1)
        model = kzoo.create_model("resnet20", classes=10, input_shape=(32, 32, 3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    rng = np.random.default_rng(1)
    bn = keras.layers.BatchNormalization
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, bn)]
    assert len(norms) == 1 + 9 * 2  # the stem's and two in each of the 9 blocks: all of them
    for layer in norms:
        c = layer.gamma.shape[0]
        layer.set_weights([rng.uniform(0.8, 1.2, c), rng.normal(0, 0.05, c),
                           rng.normal(0, 0.05, c), rng.uniform(0.8, 1.2, c)])
    probe = rng.normal(size=(16, 32, 32, 3)).astype("float32")
    path = export_saved_model(model, "bf16_resnet", root=tmp_path, probe=probe)
    meta = json.loads((path / "assets.extra" / "kzoo_metadata.json").read_text())
    assert meta["verification"]["max_abs_diff"] <= 1e-5
