"""`kzoo predict` inputs and versions: headers are checked before anything is allocated or decoded.

The image cases patch TensorFlow's decoder to fail if it is ever reached: the refusal must come from
the header alone. The version cases put a link inside the served version.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import struct
import zlib
from unittest import mock

import numpy as np
import pytest

from kzoo.export import load_saved_model
from kzoo.export.predict import read_input_files
from kzoo.utils.errors import UserError

from .conftest import Case, digits_batch, run_api, run_cli_in_process

SHAPE, DTYPE = (8, 8, 1), "uint8"


@contextlib.contextmanager
def never_decoded():
    import tensorflow as tf

    def refuse(*args, **kwargs):
        raise AssertionError("the image was decoded")

    with mock.patch.object(tf.io, "decode_image", refuse):
        yield


def _input_case(path, version, match, guard=contextlib.nullcontext, error=(UserError, ValueError,
                                                                           FileNotFoundError)):
    return Case(
        argv=["predict", str(version), str(path)], api=lambda: read_input_files([path], SHAPE, DTYPE),
        match=match, error=error, guard=guard,
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=1)
def _png_14000() -> bytes:
    """A complete, valid 14000x14000 grayscale PNG (196 MB of pixels, ~200 KB of file)."""
    side = 14_000
    packer = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def png_of_14000_by_14000(tmp_path, version):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_14000())
    return _input_case(path, version, r"is 14000x14000 pixels; the model takes 8x8 images",
                       guard=never_decoded)


def gif_with_a_14000_by_14000_screen(tmp_path, version):
    from PIL import Image

    path = tmp_path / "screen.gif"
    Image.new("L", (8, 8)).save(path)
    data = bytearray(path.read_bytes())
    data[6:10] = struct.pack("<HH", 14_000, 14_000)  # the logical screen TensorFlow would allocate
    path.write_bytes(bytes(data))
    return _input_case(path, version, r"is 14000x14000 pixels", guard=never_decoded)


def _npy(path, shape, dtype="|u1", data=b"", version=1, pad=0):
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * pad
    size = len(header) + 1
    prefix = 10 if version == 1 else 12
    header += b" " * ((-(prefix + size)) % 64) + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    path.write_bytes(b"\x93NUMPY" + bytes([version, 0]) + length + header + data)
    return path


def npy_declaring_7_tib(tmp_path, version):
    path = _npy(tmp_path / "huge.npy", ((7 << 40) // 64, 8, 8, 1))
    return _input_case(path, version, r"header declares 7,696,581,394,432 bytes of data")


def npy_declaring_more_than_it_holds(tmp_path, version):
    path = _npy(tmp_path / "short.npy", (100, 8, 8, 1), data=b"\0" * 10)
    return _input_case(path, version,
                       r"(declares 6,400 bytes of data but the file holds 10|not a plain NumPy array)")


def npy_of_pickled_objects(tmp_path, version):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return _input_case(path, version, r"(holds dtype object|not a plain NumPy array file)")


def npy_of_a_structured_dtype(tmp_path, version):
    path = tmp_path / "records.npy"
    np.save(path, np.zeros((2, 8, 8, 1), dtype=[("a", "u1"), ("b", "f4")]))
    return _input_case(path, version, r"(holds dtype|with dtype \[)")


def npy_with_a_huge_header(tmp_path, version):
    path = _npy(tmp_path / "header.npy", (1, 8, 8, 1), version=2, pad=60_000, data=b"\0" * 64)
    return _input_case(path, version, r"not a plain NumPy array file")


def npy_that_is_a_fifo(tmp_path, version):
    path = tmp_path / "pipe.npy"
    os.mkfifo(path)
    return _input_case(path, version, r"(is a FIFO, not a regular input file|No such input file)")


def npy_linked_to_dev_zero(tmp_path, version):
    path = tmp_path / "zero.npy"
    path.symlink_to("/dev/zero")
    return _input_case(path, version, r"(is a device, not a regular input file|No such input file)")


def png_that_is_a_directory(tmp_path, version):
    path = tmp_path / "folder.png"
    path.mkdir()
    return _input_case(path, version, r"(is a directory|No such input file)")


def _version_case(tmp_path, target, match):
    batch = tmp_path / "batch.npy"
    np.save(batch, digits_batch())
    return Case(argv=["predict", str(target), str(batch)], api=lambda: load_saved_model(target),
                match=match, error=UserError)


def version_with_a_linked_variables_file(tmp_path, version_copy):
    outside = tmp_path / "data.bin"
    shutil.move(version_copy / "variables" / "variables.data-00000-of-00001", outside)
    (version_copy / "variables" / "variables.data-00000-of-00001").symlink_to(outside)
    return _version_case(tmp_path, version_copy, r"holds files kzoo does not follow or read \(symbolic link")


def latest_version_is_a_link(tmp_path, version_copy):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(version_copy, elsewhere)
    (version_copy.parent / "2").symlink_to(elsewhere)
    return _version_case(tmp_path, version_copy.parent, r"tiny/2' is a symbolic link")


INPUT_CASES = [
    png_of_14000_by_14000, gif_with_a_14000_by_14000_screen, npy_declaring_7_tib,
    npy_declaring_more_than_it_holds, npy_of_pickled_objects, npy_of_a_structured_dtype,
    npy_with_a_huge_header, npy_that_is_a_fifo, npy_linked_to_dev_zero, png_that_is_a_directory,
]
VERSION_CASES = [version_with_a_linked_variables_file, latest_version_is_a_link]


@pytest.mark.parametrize("make", INPUT_CASES, ids=lambda f: f.__name__)
def test_inputs_refused_by_the_python_api(make, tmp_path, published):
    run_api(make(tmp_path, published))


@pytest.mark.parametrize("make", INPUT_CASES, ids=lambda f: f.__name__)
def test_inputs_refused_by_kzoo_predict(make, tmp_path, published, capsys):
    run_cli_in_process(make(tmp_path, published), capsys)


@pytest.mark.parametrize("make", VERSION_CASES, ids=lambda f: f.__name__)
def test_versions_refused_by_the_python_api(make, tmp_path, version_copy):
    run_api(make(tmp_path, version_copy))


@pytest.mark.parametrize("make", VERSION_CASES, ids=lambda f: f.__name__)
def test_versions_refused_by_kzoo_predict(make, tmp_path, version_copy, capsys):
    run_cli_in_process(make(tmp_path, version_copy), capsys)


def test_the_huge_png_is_a_valid_image(tmp_path, monkeypatch):
    """Control: the 14000x14000 PNG is a real image a decoder would expand to 196 MB."""
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "huge.png"
    path.write_bytes(_png_14000())
    with Image.open(path) as image:
        assert image.size == (14_000, 14_000) and image.mode == "L"
        image.verify()  # every chunk's CRC and the stream's structure, without keeping pixels


def test_genuine_inputs_still_predict(tmp_path, published, capsys):
    """Control: a plain .npy batch and an 8x8 PNG go through the same checks and predict."""
    import tensorflow as tf

    from kzoo.cli import main

    batch = digits_batch(3)
    np.save(tmp_path / "batch.npy", batch)
    (tmp_path / "one.png").write_bytes(tf.io.encode_png(batch[0]).numpy())
    assert main(["predict", str(published), str(tmp_path / "batch.npy"), str(tmp_path / "one.png")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    served = load_saved_model(published)
    expected = served.predict(batch)["class_id"]
    assert [int(line.split("(class ")[1].split(")")[0]) for line in lines[:3]] == list(expected)
