"""Raw inputs for a served model from .npy or image files, checked against its signature."""

from __future__ import annotations

import io
import math
import os
import re
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


def check_inputs(
    inputs, shape: tuple, dtype: str, source: str = "inputs", *, any_dtype: bool = False
) -> np.ndarray:
    """Return `inputs` as a batch of `shape` and `dtype`, or raise ValueError saying what was expected.

    One example (without the batch axis) becomes a batch of one. Values of another dtype are accepted
    only if they convert to `dtype` without loss (e.g. uint8 into float32). With `any_dtype` (a
    model whose input range is known: `input_range.prepare_inputs` checks the values next), any
    plain numbers are accepted and returned in their own dtype.
    """
    x = np.asarray(inputs)
    if x.ndim == len(shape):
        x = x[np.newaxis]
    if x.ndim == len(shape) + 1 and len(x) == 0:
        raise ValueError(f"{source}: holds no examples (shape {tuple(x.shape)}); nothing to predict.")
    fits = x.ndim == len(shape) + 1 and len(x) > 0 and all(
        d is None or d == s for d, s in zip(shape, x.shape[1:], strict=True)
    )
    castable = x.dtype == np.dtype(dtype) or (
        x.dtype.kind in "biuf" and (any_dtype or np.can_cast(x.dtype, dtype, casting="safe"))
    )
    if any_dtype and fits and castable:
        return x
    if not fits or not castable:
        raise ValueError(
            f"{source}: expected a batch of shape {_shape_text((None, *shape))} (or one example of "
            f"shape {_shape_text(shape)}) with dtype {dtype}; received shape "
            f"{tuple(np.asarray(inputs).shape)} with dtype {np.asarray(inputs).dtype}."
        )
    return x.astype(dtype, copy=False)


def read_input_files(
    paths, shape: tuple, dtype: str, *, headers_only: bool = False, any_dtype: bool = False,
    resize: bool = False, notes: list | None = None,
) -> list[tuple[str, np.ndarray]]:
    """`(label, batch)` pairs: one per .npy file (a batch or one example), one per image file.

    Nothing is allocated or decoded before its header has been checked: a file must be a regular
    file; a .npy file's header (dtype, shape) must describe plain numbers that fit the model's input
    and the bytes the file holds (never unpickled: `allow_pickle=False`); an image's header must give
    the model's height and width (unless `resize`) before it is decoded. With `headers_only`, only
    those checks run (nothing is read past a header, TensorFlow is not imported) and nothing is
    returned. `any_dtype` accepts any plain numbers (see `check_inputs`).

    Images are decoded to 8 bits (0..255) and, with `resize`, resized to the model's height and
    width (area averaging when shrinking, bilinear when enlarging). Their channels become the
    model's: colours to grey (ITU-R BT.601 luma, as `tf.image.rgb_to_grayscale`), grey repeated
    into RGB, alpha dropped; each such conversion is appended to `notes` (kind, file, text) so that
    it can be said out loud.
    """
    if not paths:
        raise ValueError("`inputs` must name at least one .npy or image file; received none.")
    batches = []
    for path in map(Path, paths):
        if path.is_dir() and not path.is_symlink():
            raise ValueError(f"{path}: is a directory; give .npy or image files.")
        suffix = path.suffix.lower()
        if suffix not in (".npy", *IMAGE_SUFFIXES):
            raise ValueError(
                f"{path}: unsupported input file type {suffix!r}; give a .npy file or an image "
                f"({', '.join(IMAGE_SUFFIXES)})."
            )
        with _open_regular(path) as f:
            if suffix == ".npy":
                array = _read_npy(f, path, shape, dtype, headers_only, any_dtype)
            else:
                array = _read_image(f, path, shape, headers_only, resize, notes)
        if not headers_only:
            batches.append(
                (str(path), check_inputs(array, shape, dtype, str(path), any_dtype=any_dtype))
            )
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


def _read_npy(f, path: Path, shape: tuple, dtype: str, headers_only: bool = False,
              any_dtype: bool = False):
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
    _check_shape(array_shape, array_dtype, shape, dtype, path, any_dtype)
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


def _check_shape(array_shape, array_dtype, shape, dtype, path, any_dtype=False) -> None:
    """`check_inputs`' shape and dtype rule, applied to a header before any data is read."""
    dims = tuple(array_shape)
    if len(dims) == len(shape):
        dims = (1, *dims)
    fits = len(dims) == len(shape) + 1 and dims[0] > 0 and all(
        d is None or d == s for d, s in zip(shape, dims[1:], strict=True)
    )
    castable = array_dtype == np.dtype(dtype) or any_dtype or np.can_cast(
        array_dtype, dtype, casting="safe"
    )
    if not fits or not castable:
        raise ValueError(
            f"{path}: expected a batch of shape {_shape_text((None, *shape))} (or one example of "
            f"shape {_shape_text(shape)}) with dtype {dtype}; received shape {tuple(array_shape)} "
            f"with dtype {array_dtype}."
        )


def _read_image(f, path: Path, shape: tuple, headers_only: bool = False, resize: bool = False,
                notes: list | None = None):
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
                kind, (width, height), mode = image.format, image.size, image.mode
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError) as err:
        raise UserError(f"{path}: not an image kzoo can read ({_first(err)})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_cap
    if kind not in _IMAGE_FORMATS:
        raise UserError(f"{path}: is a {kind} image; kzoo reads {', '.join(_IMAGE_FORMATS)}")
    want_h, want_w = shape[0], shape[1]
    wrong_size = (want_h is not None and height != want_h) or (want_w is not None and width != want_w)
    if wrong_size and not resize:
        raise UserError(
            f"{path}: is {width}x{height} pixels; the model takes {want_w or '?'}x{want_h or '?'} "
            "images; pass --resize to resize it (kzoo resizes only when asked); not decoded"
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise UserError(
            f"{path}: is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} kzoo decodes"
        )
    if headers_only:
        return None
    import tensorflow as tf

    colour = mode not in _GREY_MODES
    channels = 4 if shape[-1] == 4 else 3 if colour else 1
    try:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode the image ({_first(err)}).") from err
    if wrong_size:
        target = (want_h or height, want_w or width)
        shrink = target[0] <= height and target[1] <= width
        image = tf.image.resize(image, target, method="area" if shrink else "bilinear",
                                antialias=not shrink)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        _note(notes, "resize", path, f"--resize resized {width}x{height} to {target[1]}x{target[0]} "
              f"pixels ({'area averaging' if shrink else 'bilinear'})")
    pixels = image.numpy()
    dropped = " (alpha dropped)" if "A" in mode and shape[-1] != 4 else ""
    if shape[-1] == 1 and colour:
        pixels = np.rint(pixels[..., :3].astype(np.float32) @ _LUMA)[..., None].astype(np.uint8)
        _note(notes, "grey", path, f"converted {mode} to grey{dropped} for the model's 1 channel "
              "(0.299 R + 0.587 G + 0.114 B, as tf.image.rgb_to_grayscale)")
    elif shape[-1] == 3 and not colour:
        pixels = np.repeat(pixels, 3, axis=-1)
        _note(notes, "rgb", path, f"repeated grey ({mode}) into the model's 3 channels{dropped}")
    elif dropped and colour:
        _note(notes, "alpha", path, f"dropped the alpha channel of {mode}")
    return pixels


# Pillow's modes of images without colour; a palette ("P") image may hold colours.
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_LUMA = np.array([0.2989, 0.5870, 0.1140], np.float32)  # tf.image.rgb_to_grayscale's weights


def _note(notes, kind: str, path: Path, text: str) -> None:
    if notes is not None:
        notes.append((kind, str(path), text))


def format_notes(notes) -> list[str]:
    """`notes` (kind, file, text) as `note: ...` lines, one per distinct text, naming its files."""
    grouped: dict[tuple, list[str]] = {}
    for kind, source, text in notes:
        grouped.setdefault((kind, text), []).append(source)
    lines = []
    for (_, text), sources in grouped.items():
        shown = ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")
        lines.append(f"note: {shown}: {text}")
    return lines


def _first(err: BaseException) -> str:
    # Pillow names the in-memory buffer it read from (`<_io.BytesIO object at 0x...>`): noise.
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(err)).strip()
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
