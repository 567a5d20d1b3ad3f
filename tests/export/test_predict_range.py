"""Predict that cannot silently mislead (README: "Export and serve"): the raw range the model was
trained on travels with the run and the export; `kzoo predict` refuses inputs outside it unless
--rescale, resizes only with --resize, accepts float .npy within the range, and says out loud when
it converts colours to grey. The scenario: an ordinary 0..255 PNG of a "0" (a digit of the offline
digits test split, enlarged 4x) given to a digits model, which was trained on intensities 0..16."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from kzoo.cli import main
from kzoo.export import load_saved_model, read_metadata, save_keras
from kzoo.export.input_range import InputRangeError, InputSpec, prepare_inputs, source_range

from .conftest import export_digits, served_reference, small_model

LINE = re.compile(r"^(?P<src>\S+): (?P<name>.+) \(class (?P<id>\d+)\) probability (?P<p>[0-9.]+)$")


@pytest.fixture(scope="module")
def zero():
    """The first "0" of the offline digits test split: raw 0..16 pixels (8x8x1)."""
    import kzoo.data

    arrays = kzoo.data.load_arrays("digits")
    return arrays["x_test"][list(arrays["y_test"]).index(0)]


def _png(path, pixels):
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return path


def _enlarged_0_255(zero, channels=1, scale=4):
    """The digit as an ordinary image: intensities 0..255, each pixel `scale` x `scale` pixels
    (32x32 by default)."""
    big = np.kron(zero[..., 0].astype(np.float64), np.ones((scale, scale))) * 255 / 16
    pixels = np.rint(big).astype(np.uint8)[..., None]
    return np.repeat(pixels, channels, axis=-1)


@pytest.fixture(scope="module")
def exported(trained_weights, digits, tmp_path_factory):
    """The small digits CNN (trained 2 epochs) exported with the range it was trained on."""
    root = tmp_path_factory.mktemp("range") / "saved_models"
    model = small_model()
    model.set_weights(trained_weights)
    path = export_digits(model, digits, root, raw_range=(0, 16))
    return {"dir": path.parent, "model": model}


def _rows(out):
    return [LINE.match(line).groupdict() for line in out.strip().splitlines()]


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_the_export_records_the_range_and_info_prints_it(exported, capsys):
    meta = read_metadata(exported["dir"] / "1")
    assert meta["signature"]["input"] == {
        "name": "inputs", "shape": [None, 8, 8, 1], "dtype": "uint8", "range": [0, 16]
    }
    assert main(["info", str(exported["dir"])]) == 0
    assert ("input values: uint8 in 0..16, the raw range of the training split (kzoo predict "
            "refuses others; --rescale maps them)") in capsys.readouterr().out


def test_a_0_255_png_of_a_zero_is_refused_then_rescaled_to_the_right_class(
    exported, zero, digits, tmp_path, capsys
):
    same_size = _png(tmp_path / "zero8.png", _enlarged_0_255(zero, scale=1))
    assert main(["predict", str(exported["dir"]), str(same_size)]) == 2
    err = _one_line_error(capsys)
    assert err == (
        f"kzoo predict: error: {same_size}: values 0..255 lie outside 0..16, the raw range "
        "(uint8) the model was trained on; pass --rescale (rescale=True) to map the input's own "
        "range (e.g. 0..255 for 8-bit images) onto 0..16, or give inputs in that range"
    )
    capsys.readouterr()

    big = _png(tmp_path / "zero32.png", _enlarged_0_255(zero))
    assert main(["predict", str(exported["dir"]), str(big), "--rescale"]) == 2
    assert ("zero32.png: is 32x32 pixels; the model takes 8x8 images; pass --resize to resize it"
            in _one_line_error(capsys))
    assert main(["predict", str(exported["dir"]), str(big), "--resize"]) == 2
    assert "values 0..255 lie outside 0..16" in _one_line_error(capsys)

    assert main(["predict", str(exported["dir"]), str(big), "--resize", "--rescale"]) == 0
    captured = capsys.readouterr()
    [row] = _rows(captured.out)
    # Area averaging undoes the 4x enlargement and --rescale the 255/16: the model sees the digit.
    expected = served_reference(exported["model"], digits, zero[np.newaxis])[0]
    assert int(row["id"]) == 0 == expected.argmax()
    assert float(row["p"]) == pytest.approx(expected[0], abs=1e-4)
    assert captured.err.strip().splitlines() == [
        f"note: {big}: --resize resized 32x32 to 8x8 pixels (area averaging)",
        f"note: {big}: --rescale mapped 0..255 (uint8) onto 0..16, the range the model was "
        "trained on",
    ]


def test_rgb_to_grey_is_said_out_loud(exported, zero, digits, tmp_path, capsys):
    rgb = _png(tmp_path / "zero_rgb.png", _enlarged_0_255(zero, channels=3, scale=1))
    assert main(["predict", str(exported["dir"]), str(rgb), "--rescale"]) == 0
    captured = capsys.readouterr()
    assert f"note: {rgb}: converted RGB to grey for the model's 1 channel (0.299 R + 0.587 G + " \
           "0.114 B, as tf.image.rgb_to_grayscale)" in captured.err.splitlines()
    [row] = _rows(captured.out)
    expected = served_reference(exported["model"], digits, zero[np.newaxis])[0]
    assert float(row["p"]) == pytest.approx(expected[int(row["id"])], abs=1e-4)
    assert int(row["id"]) == expected.argmax()


def test_float_npy_within_the_range_is_accepted(exported, digits, tmp_path, capsys):
    x = digits["x"][:6]
    np.save(tmp_path / "float.npy", x.astype(np.float64))
    assert main(["predict", str(exported["dir"]), str(tmp_path / "float.npy")]) == 0
    captured = capsys.readouterr()
    expected = served_reference(exported["model"], digits, x)
    assert [int(r["id"]) for r in _rows(captured.out)] == list(expected.argmax(-1))
    assert captured.err == ""

    halves = x.astype(np.float32) + 0.25
    halves[halves > 16] = 16
    np.save(tmp_path / "fractions.npy", halves)
    assert main(["predict", str(exported["dir"]), str(tmp_path / "fractions.npy")]) == 0
    changed = int(np.count_nonzero(np.rint(halves) != halves))
    assert (f"rounded {changed} values to whole numbers: the model takes uint8"
            in capsys.readouterr().err)

    np.save(tmp_path / "over.npy", x.astype(np.float32) * 1.5)
    assert main(["predict", str(exported["dir"]), str(tmp_path / "over.npy")]) == 2
    assert "values 0..24 lie outside 0..16" in _one_line_error(capsys)
    nan = x.astype(np.float32)
    nan[0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    assert main(["predict", str(exported["dir"]), str(tmp_path / "nan.npy")]) == 2
    assert "holds NaN or infinite values" in _one_line_error(capsys)


def test_the_python_api_refuses_and_rescales_alike(exported, digits):
    served = load_saved_model(exported["dir"])
    assert served.input_range == (0, 16)
    x = digits["x"][:4]
    with pytest.raises(InputRangeError, match="values 0..255 lie outside 0..16"):
        served.predict(np.rint(x * 255.0 / 16).astype(np.uint8))
    notes = []
    rescaled = served.predict(np.rint(x * 255.0 / 16).astype(np.uint8), rescale=True, notes=notes)
    np.testing.assert_array_equal(rescaled["class_id"], served.predict(x)["class_id"])
    assert notes[0][0] == "rescale"


def test_rescale_without_a_recorded_range_is_refused(trained_weights, digits, tmp_path, capsys):
    model = small_model()
    model.set_weights(trained_weights)
    export_digits(model, digits, tmp_path / "root")  # no raw_range
    np.save(tmp_path / "x.npy", digits["x"][:2])
    assert main(["predict", str(tmp_path / "root" / "digits_cnn"), str(tmp_path / "x.npy"),
                 "--rescale"]) == 2
    assert "--rescale (rescale=True) needs the raw range the model was trained on" in \
        _one_line_error(capsys)
    assert main(["info", str(tmp_path / "root" / "digits_cnn")]) == 0
    assert "input values: uint8, range not recorded" in capsys.readouterr().out


def test_predict_and_info_take_a_run_directory(finished_run, trained_weights, zero, digits,
                                               tmp_path, capsys):
    _, run_dir, _ = finished_run
    norm = json.loads((run_dir / "normalization.json").read_text())
    assert norm["raw_range"] == [0, 16]
    model = small_model()
    model.set_weights(trained_weights)
    save_keras(model, run_dir / "model.keras", overwrite=True)
    big = _png(tmp_path / "zero32.png", _enlarged_0_255(zero, channels=3))
    assert main(["predict", str(run_dir), str(big), "--resize"]) == 2
    assert "values 0..255 lie outside 0..16" in _one_line_error(capsys)
    assert main(["predict", str(run_dir), str(big), "--resize", "--rescale"]) == 0
    captured = capsys.readouterr()
    [row] = _rows(captured.out)
    mean, std = np.float32(norm["mean"]), np.float32(norm["std"])
    expected = np.asarray(model((zero[np.newaxis].astype(np.float32) - mean) / std))[0]
    assert int(row["id"]) == 0 == expected.argmax()
    assert float(row["p"]) == pytest.approx(expected[0], abs=1e-4)
    assert "converted RGB to grey" in captured.err
    assert main(["info", str(run_dir)]) == 0
    assert "input values: uint8 (8, 8, 1) in 0..16" in capsys.readouterr().out


def test_an_unfinished_run_is_not_predicted(finished_run, digits, tmp_path, capsys):
    _, run_dir, _ = finished_run
    (run_dir / "metrics.json").unlink()
    np.save(tmp_path / "x.npy", digits["x"][:2])
    assert main(["predict", str(run_dir), str(tmp_path / "x.npy")]) == 2
    assert "is not a finished run (no metrics.json): rerun its command" in _one_line_error(capsys)


@pytest.mark.parametrize("bad", [[16, 0], [0], ["0", 16], [0, None]])
def test_a_bad_range_in_the_metadata_is_refused(exported, tmp_path, bad, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(exported["dir"] / "1", copy)
    path = copy / "assets.extra" / "kzoo_metadata.json"
    meta = json.loads(path.read_text())
    meta["signature"]["input"]["range"] = bad
    path.write_text(json.dumps(meta))
    assert main(["info", str(copy)]) == 2
    assert "`signature.input.range` must be [low, high] numbers with low <= high" in \
        _one_line_error(capsys)


def test_source_ranges_and_the_float_model_of_mnist1d():
    assert source_range(np.zeros(3, np.uint8)) == ((0, 255), "uint8")
    assert source_range(np.array([0.2, 0.9]))[0] == (0, 1)
    assert source_range(np.array([-3.0, 7.0])) == ((-3.0, 7.0), "its own minimum and maximum")
    spec = InputSpec((2,), "float32", (-5.5, 4.5))
    x = np.array([[-3.0, 7.0]])
    with pytest.raises(InputRangeError, match=r"values -3..7 lie outside -5.5..4.5"):
        prepare_inputs(x, spec, "x")
    out = prepare_inputs(x, spec, "x", rescale=True)
    np.testing.assert_allclose(out, [[-5.5, 4.5]])
    assert out.dtype == np.float32


def test_training_records_the_raw_range_of_the_training_split():
    import kzoo.data

    assert kzoo.data.load("digits").info.raw_range == (0, 16)
    info = kzoo.data.load("mnist1d").info
    x = kzoo.data.load_arrays("mnist1d")["x_train"]
    assert info.raw_range == (float(x.min()), float(x.max()))
    assert isinstance(info.raw_range[0], float)


def test_an_empty_batch_a_directory_and_a_non_image_are_each_one_plain_line(tmp_path):
    from kzoo.export.predict import check_inputs, read_input_files

    with pytest.raises(ValueError, match=r"^empty.npy: holds no examples \(shape \(0, 8, 8, 1\)\)"):
        check_inputs(np.zeros((0, 8, 8, 1), "uint8"), (8, 8, 1), "uint8", "empty.npy")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="images: is a directory; give .npy or image files"):
        read_input_files([tmp_path / "images"], (8, 8, 1), "uint8")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="not an image kzoo can read") as raised:
        read_input_files([fake], (8, 8, 1), "uint8")
    assert "BytesIO" not in str(raised.value)
