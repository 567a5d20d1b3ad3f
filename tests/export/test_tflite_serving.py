"""TFLite at the edges: a bfloat16 model (kzoo's default policy on bf16 CPUs) converts through its
float32 twin, and `kzoo predict --tflite` runs the version's TFLite model or refuses in one line."""

import os
import re
import shutil

import numpy as np
import pytest

from kzoo.cli import main
from kzoo.export import read_metadata
from kzoo.export.tflite import TFLITE_FILE, run_tflite
from kzoo.training.precision import precision_policy

from .conftest import export_digits, served_reference, small_model

LINE = re.compile(r"^(?P<src>\S+): (?P<name>.+) \(class (?P<id>\d+)\) probability (?P<p>[0-9.]+)$")


@pytest.fixture(scope="module")
def bf16_export(trained_weights, digits, tmp_path_factory):
    """The trained digits CNN built under mixed_bfloat16, exported with --tflite."""
    with precision_policy("mixed_bfloat16"):
        model = small_model()
    model.set_weights(trained_weights)
    path = export_digits(model, digits, tmp_path_factory.mktemp("bf16"), tflite=True)
    return path


def test_a_bfloat16_model_exports_tflite_from_its_float32_twin(bf16_export, trained_model, digits):
    meta = read_metadata(bf16_export)
    lite_meta = meta["tflite"]
    assert lite_meta["converted_from"] == "float32 twin"
    assert lite_meta["saved_model_compute_dtype"] == "bfloat16"
    assert lite_meta["max_abs_diff"] <= 1e-5 and lite_meta["class_id_mismatches"] == 0
    x = digits["x"][:300]
    lite = run_tflite((bf16_export / TFLITE_FILE).read_bytes(), x)
    # The float32 model with the same weights is what the TFLite model computes.
    np.testing.assert_allclose(lite["probabilities"], served_reference(trained_model, digits, x),
                               atol=1e-5)
    # bfloat16 rounds: the published SavedModel differs, by what the metadata says on the probe.
    vs = lite_meta["vs_saved_model"]
    assert 0 < vs["max_abs_diff"] < 0.1 and 0.8 <= vs["class_id_agreement"] <= 1
    assert np.mean(lite["class_id"] == digits["y"][:300]) > 0.8


def test_predict_tflite_prints_the_tflite_models_answers(bf16_export, trained_model, digits,
                                                        tmp_path, capsys):
    np.save(tmp_path / "batch.npy", digits["x"][:6])
    assert main(["predict", str(bf16_export), str(tmp_path / "batch.npy"), "--tflite"]) == 0
    rows = [LINE.match(line).groupdict() for line in capsys.readouterr().out.strip().splitlines()]
    expected = served_reference(trained_model, digits, digits["x"][:6])
    assert [int(r["id"]) for r in rows] == list(expected.argmax(-1))
    np.testing.assert_allclose([float(r["p"]) for r in rows], expected.max(-1), atol=1e-4)
    assert main(["info", str(bf16_export)]) == 0
    assert "converted from the float32 twin of the bfloat16 model" in capsys.readouterr().out


def _refused(args, capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and not captured.out, captured.err
    return lines[0]


def test_predict_tflite_refuses_in_one_line(bf16_export, trained_model, digits, finished_run,
                                            tmp_path, capsys):
    batch = tmp_path / "batch.npy"
    np.save(batch, digits["x"][:2])
    plain = export_digits(trained_model, digits, tmp_path / "plain")  # no --tflite
    line = _refused(["predict", str(plain), str(batch), "--tflite"], capsys)
    assert line.startswith("kzoo predict: error: --tflite: ") and "holds no TensorFlow Lite" in line

    _, run_dir, _ = finished_run
    line = _refused(["predict", str(run_dir), str(batch), "--tflite"], capsys)
    assert "--tflite runs an exported version's TFLite model" in line and str(run_dir) in line

    tampered = tmp_path / "tampered" / "1"
    shutil.copytree(bf16_export, tampered)
    data = bytearray((tampered / TFLITE_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tampered / TFLITE_FILE).write_bytes(bytes(data))
    line = _refused(["predict", str(tampered), str(batch), "--tflite"], capsys)
    assert "does not match the sha256" in line and "not run" in line

    linked = tmp_path / "linked" / "1"
    shutil.copytree(bf16_export, linked)
    os.remove(linked / TFLITE_FILE)
    os.symlink(bf16_export / TFLITE_FILE, linked / TFLITE_FILE)
    line = _refused(["predict", str(linked), str(batch), "--tflite"], capsys)
    assert "is a symbolic link" in line
