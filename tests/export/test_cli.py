import json
import re

import numpy as np
import pytest
import tensorflow as tf

from kzoo.cli import main
from kzoo.export import METADATA_FILE, load_saved_model, read_metadata, save_keras

from .conftest import SMALL_CNN, assert_builder_record_rebuilds, small_model

DIGIT_NAMES = [f"digit {i}" for i in range(10)]
LINE = re.compile(r"^(?P<src>\S+): (?P<name>.+) \(class (?P<id>\d+)\) probability (?P<p>[0-9.]+)$")


@pytest.fixture(scope="session")
def exported(trained_weights, digits, tmp_path_factory):
    """`kzoo export model.keras ...` once; returns the root and the expected probabilities."""
    tmp = tmp_path_factory.mktemp("cli")
    model = small_model()
    model.set_weights(trained_weights)
    save_keras(model, tmp / "model.keras")
    root = tmp / "saved_models"
    args = ["export", str(tmp / "model.keras"), "--name", "digits_cnn", "--root", str(root)]
    args += ["--mean", str(digits["mean"][0]), "--std", str(digits["std"][0]), "--raw-dtype", "uint8"]
    assert main(args + ["--class-names", *DIGIT_NAMES]) == 0
    x = (digits["x"].astype(np.float32) - np.float32(str(digits["mean"][0])))
    expected = np.asarray(model(x / np.float32(str(digits["std"][0])), training=False))
    return {"root": root, "dir": root / "digits_cnn", "expected": expected, "keras": tmp / "model.keras"}


def _parse(out):
    return [LINE.match(line).groupdict() for line in out.strip().splitlines()]


def test_export_prints_the_verified_version(exported):
    meta = read_metadata(exported["dir"] / "1")
    assert meta["classes"] == DIGIT_NAMES
    assert meta["signature"]["input"]["dtype"] == "uint8"
    assert meta["extra"]["source"] == str(exported["keras"])


def test_predict_npy_prints_class_and_probability(exported, digits, tmp_path, capsys):
    np.save(tmp_path / "batch.npy", digits["x"][:5])
    capsys.readouterr()
    assert main(["predict", str(exported["dir"]), str(tmp_path / "batch.npy")]) == 0
    rows = _parse(capsys.readouterr().out)
    expected = exported["expected"][:5]
    assert [r["src"] for r in rows] == [f"{tmp_path / 'batch.npy'}[{i}]" for i in range(5)]
    assert [int(r["id"]) for r in rows] == list(expected.argmax(-1))
    assert [r["name"] for r in rows] == [DIGIT_NAMES[i] for i in expected.argmax(-1)]
    np.testing.assert_allclose([float(r["p"]) for r in rows], expected.max(-1), atol=1e-4)


def test_predict_image_files(exported, digits, tmp_path, capsys):
    paths = []
    for i in (3, 4):
        paths.append(tmp_path / f"digit{i}.png")
        paths[-1].write_bytes(tf.io.encode_png(digits["x"][i]).numpy())
    capsys.readouterr()
    assert main(["predict", str(exported["dir"] / "1"), *map(str, paths)]) == 0
    rows = _parse(capsys.readouterr().out)
    assert [r["src"] for r in rows] == list(map(str, paths))
    assert [int(r["id"]) for r in rows] == list(exported["expected"][[3, 4]].argmax(-1))


@pytest.mark.parametrize(
    "array, received",
    [
        (np.zeros((3, 64), np.uint8), r"received shape \(3, 64\) with dtype uint8"),
        (np.zeros((3, 8, 8, 1), np.float64), r"received shape \(3, 8, 8, 1\) with dtype float64"),
        (np.zeros((2, 8, 8, 3), np.uint8), r"received shape \(2, 8, 8, 3\) with dtype uint8"),
        (np.zeros((3, 8, 8, 1), np.int16), r"received shape \(3, 8, 8, 1\) with dtype int16"),
    ],
)
def test_predict_wrong_shape_or_dtype_says_what_it_expected(exported, tmp_path, capsys, array, received):
    np.save(tmp_path / "bad.npy", array)
    assert main(["predict", str(exported["dir"]), str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"expected a batch of shape \(\?, 8, 8, 1\) \(or one example of shape \(8, 8, 1\)\) "
        r"with dtype uint8; " + received,
        err,
    ), err


def test_predict_refuses_wrong_images_and_files(exported, tmp_path, capsys):
    big = tmp_path / "big.png"
    big.write_bytes(tf.io.encode_png(np.zeros((16, 16, 1), np.uint8)).numpy())
    assert main(["predict", str(exported["dir"]), str(big)]) == 2
    assert "is 16x16 pixels; the model takes 8x8 images" in capsys.readouterr().err
    text = tmp_path / "inputs.txt"
    text.write_text("1 2 3")
    assert main(["predict", str(exported["dir"]), str(text)]) == 2
    assert "unsupported input file type '.txt'" in capsys.readouterr().err
    pickled = tmp_path / "object.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["predict", str(exported["dir"]), str(pickled)]) == 2
    assert "holds dtype object, not plain numbers" in capsys.readouterr().err


def test_info_describes_a_saved_model_and_checks_its_files(exported, tmp_path, capsys):
    capsys.readouterr()
    assert main(["info", str(exported["dir"])]) == 0
    out = capsys.readouterr().out
    assert f"saved model: {exported['dir'] / '1'}" in out
    assert "name: digits_cnn  version: 1" in out
    assert "signature serving_default: inputs uint8 (None, 8, 8, 1) -> " in out
    assert "classes (10): digit 0, digit 1" in out
    assert "checksums: 4 files OK" in out

    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(exported["dir"] / "1", copy)
    (copy / "saved_model.pb").write_bytes(b"tampered")
    assert main(["info", str(copy)]) == 1
    assert "checksums: MISMATCH -- checksum differs: saved_model.pb" in capsys.readouterr().out


def test_info_of_a_model_name_still_describes_the_architecture(capsys):
    assert main(["info", "plain_mlp"]) == 0
    out = capsys.readouterr().out
    assert "plain_mlp" in out and "saved model:" not in out


def test_export_refuses_hostile_names_existing_versions_and_missing_sources(exported, tmp_path, capsys):
    root = tmp_path / "root"
    base = ["export", str(exported["keras"]), "--root", str(root)]
    for bad in ("../up", "a/b", "", ".."):
        assert main(base + ["--name", bad]) == 2
        assert "`name` must be" in capsys.readouterr().err
    assert not root.exists()
    assert main(base + ["--name", "m", "--version", "0"]) == 2
    assert "`version` must be a positive integer" in capsys.readouterr().err
    assert main(base + ["--name", "m", "--version", "3"]) == 0
    assert main(base + ["--name", "m", "--version", "3"]) == 2
    assert "already exists; pass force=True (--force)" in capsys.readouterr().err
    assert main(base + ["--name", "m", "--version", "3", "--force"]) == 0
    assert main(["export", str(tmp_path / "nothing.keras"), "--name", "m"]) == 2
    assert "neither a run directory nor an existing .keras file" in capsys.readouterr().err


@pytest.mark.slow
def test_export_a_training_run_directory(tmp_path, capsys):
    from kzoo.training import TrainConfig, train

    run_dir = tmp_path / "run"
    config = TrainConfig(
        model="plain_cnn", dataset="digits", run_dir=str(run_dir), epochs=1, batch_size=32,
        optimizer="adam", learning_rate=1e-2, model_kwargs=SMALL_CNN,
        tensorboard=False, verbose=0,
    )
    result = train(config)
    root = tmp_path / "saved_models"
    assert main(["export", str(run_dir), "--name", "digits", "--root", str(root)]) == 0
    assert f"exported {root / 'digits' / '1'}" in capsys.readouterr().out

    meta = json.loads((root / "digits" / "1" / METADATA_FILE).read_text())
    norm = json.loads((run_dir / "normalization.json").read_text())
    assert_builder_record_rebuilds(meta, result.model)
    assert meta["metrics"]["test_accuracy"] == result.metrics["test_accuracy"]
    assert meta["extra"]["dataset"] == "digits"
    assert meta["signature"]["input"] == {
        "name": "inputs", "shape": [None, 8, 8, 1], "dtype": "uint8", "range": [0, 16]
    }
    assert norm["raw_range"] == [0, 16]  # the training split's raw values, carried into the export
    assert meta["classes"] == norm["class_names"]

    from kzoo.data import load_arrays

    arrays = load_arrays("digits")
    x = arrays["x_test"]
    normalised = (x.astype(np.float32) - np.float32(norm["mean"])) / np.float32(norm["std"])
    expected = np.asarray(result.model(normalised, training=False))
    out = load_saved_model(root / "digits").predict(x)
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(out["class_id"], expected.argmax(-1))
    # Served on raw test pixels, the model scores what training measured on its own pipeline.
    served_accuracy = np.mean(out["class_id"] == arrays["y_test"])
    assert abs(served_accuracy - result.metrics["test_accuracy"]) < 1e-6


@pytest.mark.parametrize("command", ["predict", "info"])
def test_help_warns_that_a_saved_model_is_a_program(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "loading and calling one runs its TensorFlow graph" in text
    assert "Only predict with or serve SavedModels you trust" in text
    if command == "info":
        assert "it does not load or run the graph" in text


def test_export_tflite_prints_and_records_the_check(exported, tmp_path, capsys):
    root = tmp_path / "saved_models"
    args = ["export", str(exported["keras"]), "--name", "m", "--root", str(root), "--tflite"]
    assert main(args + ["--raw-dtype", "uint8", "--mean", "4.9", "--std", "6.0"]) == 0
    out = capsys.readouterr().out
    line = r"^tflite: (\S+) \(([0-9,]+) bytes; max \|difference\| from the SavedModel (\S+) on 16"
    tflite = re.search(line, out, re.M)
    assert tflite and tflite[1] == str(root / "m" / "1" / "assets.extra" / "model.tflite")
    meta = read_metadata(root / "m" / "1")
    assert int(tflite[2].replace(",", "")) == meta["tflite"]["bytes"] > 1000
    assert float(tflite[3]) == pytest.approx(meta["tflite"]["max_abs_diff"], rel=1e-2, abs=1e-9)
    assert meta["tflite"]["max_abs_diff"] <= 1e-5
