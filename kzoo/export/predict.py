"""Raw inputs for a served model from .npy or image files, checked against its signature."""

from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path

import numpy as np

from kzoo.utils.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
_IMAGE_CHANNELS = (1, 3, 4)
# One input file is one batch for one model call: far below these in practice.
MAX_INPUT_BYTES = 1 << 30
MAX_IMAGE_FILE_BYTES = 64 << 20
MAX_IMAGE_PIXELS = 1 << 24
_NPY_HEADER = 10_000  # numpy's own default limit for a header


def _shape_text(shape) -> str:
    """`(?, 8, 8, 1)`: like a tuple, with `?` for an unknown dimension."""
    dims = ["?" if d is None else str(d) for d in shape]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def check_inputs(inputs, shape: tuple, dtype: str, source: str = "inputs") -> np.ndarray:
    """Return `inputs` as a batch of `shape` and `dtype`, or raise ValueError saying what was expected.

    One example (without the batch axis) becomes a batch of one. Values of another dtype are accepted
    only if they convert to `dtype` without loss (e.g. uint8 into float32).
    """
    x = np.asarray(inputs)
    if x.ndim == len(shape):
        x = x[np.newaxis]
    fits = x.ndim == len(shape) + 1 and len(x) > 0 and all(
        d is None or d == s for d, s in zip(shape, x.shape[1:], strict=True)
    )
    castable = x.dtype == np.dtype(dtype) or (
        x.dtype.kind in "biuf" and np.can_cast(x.dtype, dtype, casting="safe")
    )
    if not fits or not castable:
        raise ValueError(
            f"{source}: expected a batch of shape {_shape_text((None, *shape))} (or one example of "
            f"shape {_shape_text(shape)}) with dtype {dtype}; received shape "
            f"{tuple(np.asarray(inputs).shape)} with dtype {np.asarray(inputs).dtype}."
        )
    return x.astype(dtype, copy=False)


def read_input_files(
    paths, shape: tuple, dtype: str, *, headers_only: bool = False
) -> list[tuple[str, np.ndarray]]:
    """`(label, batch)` pairs: one per .npy file (a batch or one example), one per image file.

    Nothing is allocated or decoded before its header has been checked: a file must be a regular
    file; a .npy file's header (dtype, shape) must describe plain numbers that fit the model's input
    and the bytes the file holds (never unpickled: `allow_pickle=False`); an image's header must give
    the model's height and width (images are never resized) before it is decoded, with its channels
    converted to the model's (1 = grayscale, 3 = RGB, 4 = RGBA). With `headers_only`, only those
    checks run (nothing is read past a header, TensorFlow is not imported) and nothing is returned.
    """
    if not paths:
        raise ValueError("`inputs` must name at least one .npy or image file; received none.")
    batches = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if suffix not in (".npy", *IMAGE_SUFFIXES):
            raise ValueError(
                f"{path}: unsupported input file type {suffix!r}; give a .npy file or an image "
                f"({', '.join(IMAGE_SUFFIXES)})."
            )
        with _open_regular(path) as f:
            if suffix == ".npy":
                array = _read_npy(f, path, shape, dtype, headers_only)
            else:
                array = _read_image(f, path, shape, headers_only)
        if not headers_only:
            batches.append((str(path), check_inputs(array, shape, dtype, str(path))))
    return batches


def _open_regular(path: Path):
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"No such input file: {str(path)!r}.") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not an input file") from None
    except OSError as err:
        raise UserError(f"{path}: cannot be opened ({err.strerror or err})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else (
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"
        )
        raise UserError(f"{path}: is {kind}, not a regular input file; not read")
    return os.fdopen(fd, "rb")


def _read_npy(f, path: Path, shape: tuple, dtype: str, headers_only: bool = False):
    from numpy.lib import format as npy

    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            array_shape, fortran, array_dtype = npy.read_array_header_1_0(f, max_header_size=_NPY_HEADER)
        elif version == (2, 0):
            array_shape, fortran, array_dtype = npy.read_array_header_2_0(f, max_header_size=_NPY_HEADER)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} (kzoo reads 1.0 and 2.0)")
    except (ValueError, EOFError, OSError, SyntaxError) as err:
        raise UserError(f"{path}: not a plain NumPy array file ({_first(err)})") from None
    if array_dtype.hasobject or array_dtype.kind not in "biuf" or array_dtype.fields:
        raise UserError(
            f"{path}: holds dtype {array_dtype}, not plain numbers; kzoo reads numeric arrays only "
            "(never pickled objects)"
        )
    declared = math.prod(array_shape) * array_dtype.itemsize
    held = os.fstat(f.fileno()).st_size - f.tell()
    _check_shape(array_shape, array_dtype, shape, dtype, path)
    if declared > MAX_INPUT_BYTES:
        raise UserError(
            f"{path}: its header declares {declared:,} bytes of data, more than the "
            f"{MAX_INPUT_BYTES:,} kzoo reads from one file; split the batch"
        )
    if declared != held:
        raise UserError(
            f"{path}: its header declares {declared:,} bytes of data but the file holds {held:,}; "
            "the file is damaged"
        )
    if headers_only:
        return None
    data = f.read(declared)
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype=array_dtype).reshape(array_shape, order=order)


def _check_shape(array_shape, array_dtype, shape, dtype, path) -> None:
    """`check_inputs`' shape and dtype rule, applied to a header before any data is read."""
    dims = tuple(array_shape)
    if len(dims) == len(shape):
        dims = (1, *dims)
    fits = len(dims) == len(shape) + 1 and dims[0] > 0 and all(
        d is None or d == s for d, s in zip(shape, dims[1:], strict=True)
    )
    castable = array_dtype == np.dtype(dtype) or np.can_cast(array_dtype, dtype, casting="safe")
    if not fits or not castable:
        raise ValueError(
            f"{path}: expected a batch of shape {_shape_text((None, *shape))} (or one example of "
            f"shape {_shape_text(shape)}) with dtype {dtype}; received shape {tuple(array_shape)} "
            f"with dtype {array_dtype}."
        )


def _read_image(f, path: Path, shape: tuple, headers_only: bool = False):
    import warnings

    from PIL import Image, UnidentifiedImageError

    if len(shape) != 3 or shape[-1] not in _IMAGE_CHANNELS:
        raise ValueError(
            f"{path}: the model takes inputs of shape {_shape_text(shape)}, not images; give a "
            ".npy file."
        )
    size = os.fstat(f.fileno()).st_size
    if size > MAX_IMAGE_FILE_BYTES:
        raise UserError(f"{path}: is {size:,} bytes, more than the {MAX_IMAGE_FILE_BYTES:,} kzoo reads")
    data = f.read(MAX_IMAGE_FILE_BYTES + 1)
    # Pillow reads only the header here (the pixels are decoded lazily, and never by this code).
    # Pillow's own bomb guard would refuse before saying the size; the pixel cap below is kzoo's.
    pillow_cap, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError) as err:
        raise UserError(f"{path}: not an image kzoo can read ({_first(err)})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_cap
    if kind not in _IMAGE_FORMATS:
        raise UserError(f"{path}: is a {kind} image; kzoo reads {', '.join(_IMAGE_FORMATS)}")
    want_h, want_w = shape[0], shape[1]
    if (want_h is not None and height != want_h) or (want_w is not None and width != want_w):
        raise UserError(
            f"{path}: is {width}x{height} pixels; the model takes {want_w or '?'}x{want_h or '?'} "
            "images (kzoo never resizes); not decoded"
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise UserError(
            f"{path}: is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} kzoo decodes"
        )
    if headers_only:
        return None
    import tensorflow as tf

    try:
        image = tf.io.decode_image(data, channels=shape[-1], expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode the image ({_first(err)}).") from err
    return image.numpy()


def _first(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]


def describe_predictions(label: str, outputs: dict, class_names=None) -> list[str]:
    """One line per example: its source, class name and id, and probability."""
    lines = []
    batch = len(outputs["class_id"])
    for i, (cid, probs) in enumerate(zip(outputs["class_id"], outputs["probabilities"], strict=True)):
        where = label if batch == 1 else f"{label}[{i}]"
        cname = class_names[cid] if class_names and 0 <= cid < len(class_names) else str(cid)
        lines.append(f"{where}: {cname} (class {int(cid)}) probability {float(probs[cid]):.4f}")
    return lines
