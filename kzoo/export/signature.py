"""The `serving_default` signature: raw inputs in, normalisation baked in, named outputs out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import keras
import numpy as np

from kzoo.export.contract import INPUT_NAME, OUTPUT_NAMES, RAW_DTYPES, SIGNATURE_KEY  # noqa: F401
from kzoo.export.input_range import check_range


@dataclass(frozen=True)
class RawInput:
    """What a client sends: `shape` (no batch axis), `dtype` and `range` (the raw values of the
    training split, None if unknown), and the normalisation applied.

    The model sees `(float32(x) - mean) / std`; `mean` and `std` broadcast against `shape`
    (one value, one per channel/feature, or one per pixel). With a `projection` (PCA or ZCA
    whitening, a (prod(shape), prod(model_shape)) matrix) the model sees
    `reshape(flatten((float32(x) - mean) / std) @ projection, model_shape)`.
    """

    shape: tuple
    dtype: str
    mean: np.ndarray
    std: np.ndarray
    projection: np.ndarray | None = None
    model_shape: tuple | None = None
    range: tuple | None = None

    def normalize(self, x) -> np.ndarray:
        """The NumPy reference of what the signature does before calling the model."""
        z = (np.asarray(x).astype(np.float32) - self.mean) / self.std
        if self.projection is None:
            return z
        return (z.reshape(len(z), -1) @ self.projection).reshape((len(z), *self.model_shape))

    def to_json(self) -> dict:
        normalization = {
            "formula": "(float32(inputs) - mean) / std",
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }
        if self.projection is not None:
            normalization["formula"] = (
                "reshape(flatten((float32(inputs) - mean) / std) @ projection, model_input_shape)"
            )
            normalization["projection"] = {
                "shape": list(self.projection.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(self.projection, "<f4")).hexdigest(),
            }
            normalization["model_input_shape"] = list(self.model_shape)
        return {
            "input": {
                "name": INPUT_NAME, "shape": [None, *self.shape], "dtype": self.dtype,
                **({"range": list(self.range)} if self.range is not None else {}),
            },
            "normalization": normalization,
        }


def model_io(model) -> tuple[tuple, int]:
    """`(input_shape without batch, number of classes)` of a single-input classifier."""
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            f"`model` must be a built keras.Model; received model of type {type(model).__name__}."
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            "`model` must have one input and one output to be served as a classifier; received "
            f"{len(model.inputs)} inputs and {len(model.outputs)} outputs."
        )
    out_shape = tuple(model.outputs[0].shape)
    if len(out_shape) != 2 or out_shape[1] is None:
        raise ValueError(
            "`model` must output a (batch, classes) tensor (include_top=True); received output "
            f"shape {out_shape}."
        )
    return tuple(model.inputs[0].shape[1:]), int(out_shape[1])


def make_raw_input(
    input_shape, raw_dtype="float32", mean=None, std=None, projection=None, raw_shape=None,
    raw_range=None,
) -> RawInput:
    """Validate the client-facing input description; `mean=None`/`std=None` mean 0 and 1,
    `raw_range=None` an unknown range.

    `input_shape` is the model's input shape. With a `projection` (PCA / ZCA), clients send
    examples of `raw_shape` and the projection maps them to `input_shape`.
    """
    model_shape = tuple(input_shape)
    if projection is not None:
        input_shape = _check_projection(projection, raw_shape, model_shape)
    elif raw_shape is not None and tuple(raw_shape) != model_shape:
        raise ValueError(
            f"`raw_shape` {tuple(raw_shape)} differs from the model's input shape {model_shape}; "
            "only a `projection` can map one to the other."
        )
    if raw_dtype not in RAW_DTYPES:
        raise ValueError(f"`raw_dtype` must be one of {RAW_DTYPES}; received raw_dtype={raw_dtype!r}.")
    arrays = {}
    for arg, value, default in (("mean", mean, 0.0), ("std", std, 1.0)):
        try:
            arr = np.asarray(default if value is None else value, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"`{arg}` must be numbers; received {arg}={value!r}.") from err
        concrete = tuple(1 if d is None else d for d in input_shape)
        try:
            fits = np.broadcast_shapes(arr.shape, concrete) == concrete
        except ValueError:
            fits = False
        if not fits or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"`{arg}` must be finite and broadcast to the input shape {tuple(input_shape)} (a "
                f"scalar, one value per channel, or the full shape); received {arg} of shape "
                f"{arr.shape}: {value!r}."
            )
        arrays[arg] = arr
    if np.any(arrays["std"] <= 0):
        raise ValueError(f"`std` must be > 0 everywhere; received std={std!r}.")
    value_range = check_range(raw_range, raw_dtype)
    if projection is None:
        return RawInput(tuple(input_shape), raw_dtype, arrays["mean"], arrays["std"],
                        range=value_range)
    return RawInput(tuple(input_shape), raw_dtype, arrays["mean"], arrays["std"],
                    np.asarray(projection, np.float32), model_shape, value_range)


def _check_projection(projection, raw_shape, model_shape) -> tuple:
    """The raw (client) shape, once `projection` is known to map it onto the model's input."""
    if raw_shape is None or any(not isinstance(d, int) or d < 1 for d in raw_shape):
        raise ValueError(
            "a `projection` needs `raw_shape`, the fixed shape of one raw example; received "
            f"raw_shape={raw_shape!r}."
        )
    if any(d is None for d in model_shape):
        raise ValueError(f"a `projection` needs a model with a fixed input shape; the model "
                         f"takes {model_shape}.")
    matrix = np.asarray(projection)
    expected = (int(np.prod(raw_shape)), int(np.prod(model_shape)))
    if matrix.shape != expected or not np.all(np.isfinite(matrix)):
        raise ValueError(
            f"`projection` must be a finite {expected} matrix mapping a raw example of shape "
            f"{tuple(raw_shape)} onto the model's input {model_shape}; received shape "
            f"{matrix.shape}."
        )
    return tuple(raw_shape)


def build_export_archive(model, raw: RawInput, *, from_logits: bool = False):
    """A keras.export.ExportArchive whose `serving_default` endpoint takes raw inputs.

    ExportArchive rather than a hand-made tf.Module: it tracks exactly the Keras 3 variables the
    endpoint uses, as TF trackables, and registers the endpoint under the signature key TF Serving
    asks for. `model.export()` alone cannot add the normalisation or name the outputs.
    """
    import tensorflow as tf

    mean = tf.constant(raw.mean)
    std = tf.constant(raw.std)
    projection = None if raw.projection is None else tf.constant(raw.projection)

    def serve(inputs):
        x = (tf.cast(inputs, tf.float32) - mean) / std
        if projection is not None:
            x = tf.reshape(tf.reshape(x, (-1, projection.shape[0])) @ projection,
                           (-1, *raw.model_shape))
        outputs = model(x, training=False)
        outputs = tf.cast(outputs, tf.float32)
        probabilities = tf.nn.softmax(outputs, axis=-1) if from_logits else outputs
        return {
            "probabilities": tf.identity(probabilities, name="probabilities"),
            "class_id": tf.argmax(probabilities, axis=-1, output_type=tf.int64, name="class_id"),
        }

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        SIGNATURE_KEY,
        serve,
        input_signature=[tf.TensorSpec((None, *raw.shape), raw.dtype, name=INPUT_NAME)],
    )
    return archive


def probe_inputs(raw: RawInput, n: int = 16, seed: int = 0) -> np.ndarray:
    """A reproducible batch of raw inputs covering the input's value range."""
    if any(d is None for d in raw.shape):
        raise ValueError(
            f"The input shape {raw.shape} has unknown dimensions; pass `probe` (a batch of raw "
            "inputs) to verify the export."
        )
    rng = np.random.default_rng(seed)
    shape = (n, *raw.shape)
    dtype = np.dtype(raw.dtype)
    if raw.range is not None:  # the values clients may send
        low, high = raw.range
        if dtype.kind in "ui":
            return rng.integers(low, high + 1, size=shape).astype(dtype)
        return rng.uniform(low, high, size=shape).astype(dtype)
    if dtype.kind in "ui":
        high = min(np.iinfo(dtype).max, 255)
        return rng.integers(0, high + 1, size=shape).astype(dtype)
    return (raw.mean + raw.std * rng.standard_normal(shape)).astype(dtype)
