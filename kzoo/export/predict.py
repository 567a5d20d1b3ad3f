"""Raw inputs for a served model from .npy or image files, checked against its signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_IMAGE_CHANNELS = (1, 3, 4)


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


def read_input_files(paths, shape: tuple, dtype: str) -> list[tuple[str, np.ndarray]]:
    """`(label, batch)` pairs: one per .npy file (a batch or one example), one per image file.

    .npy files load with `allow_pickle=False`; images are decoded with their channels converted to
    the model's (1 = grayscale, 3 = RGB, 4 = RGBA) but never resized.
    """
    if not paths:
        raise ValueError("`inputs` must name at least one .npy or image file; received none.")
    batches = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if not path.is_file():
            raise FileNotFoundError(f"No such input file: {str(path)!r}.")
        if suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except ValueError as err:
                raise ValueError(f"{path}: not a plain NumPy array file ({err}).") from err
        elif suffix in IMAGE_SUFFIXES:
            array = _read_image(path, shape)
        else:
            raise ValueError(
                f"{path}: unsupported input file type {suffix!r}; give a .npy file or an image "
                f"({', '.join(IMAGE_SUFFIXES)})."
            )
        batches.append((str(path), check_inputs(array, shape, dtype, str(path))))
    return batches


def _read_image(path: Path, shape: tuple) -> np.ndarray:
    import tensorflow as tf

    if len(shape) != 3 or shape[-1] not in _IMAGE_CHANNELS:
        raise ValueError(
            f"{path}: the model takes inputs of shape {_shape_text(shape)}, not images; give a "
            ".npy file."
        )
    try:
        image = tf.io.decode_image(path.read_bytes(), channels=shape[-1], expand_animations=False)
    except (tf.errors.InvalidArgumentError, ValueError) as err:
        raise ValueError(f"{path}: cannot decode the image ({err}).") from err
    return image.numpy()


def describe_predictions(label: str, outputs: dict, class_names=None) -> list[str]:
    """One line per example: its source, class name and id, and probability."""
    lines = []
    batch = len(outputs["class_id"])
    for i, (cid, probs) in enumerate(zip(outputs["class_id"], outputs["probabilities"], strict=True)):
        where = label if batch == 1 else f"{label}[{i}]"
        cname = class_names[cid] if class_names and 0 <= cid < len(class_names) else str(cid)
        lines.append(f"{where}: {cname} (class {int(cid)}) probability {float(probs[cid]):.4f}")
    return lines
