"""A finished run directory served like an export: raw inputs in, its own normalisation applied."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kzoo.export.input_range import InputSpec
from kzoo.export.loaded_model import prepare
from kzoo.utils.errors import UserError

_CHUNK = 256


class RunModel:
    """The final model of a finished training run, called on raw inputs as its export would be.

    `model.keras` is loaded through kzoo's safe loader (`kzoo.models.keras_files.load_keras`) and
    `normalization.json` (read bounded and type-checked, as `kzoo export` reads it) gives the raw
    dtype, shape and range the model was trained on, its mean and std and its class names: an input
    is checked against them, normalised `(float32(x) - mean) / std` (then projected, for a PCA / ZCA
    run), and classified.

    Args:
        run_dir: a directory `kzoo.training.train` finished (it holds metrics.json).

    Example:
        >>> model = RunModel("runs/train/plain_cnn-digits")
        >>> model.predict(images)["class_id"]
    """

    def __init__(self, run_dir):
        from kzoo.export.from_run import _check_normalization, _read, refuse_linked_run_files

        self.path = Path(run_dir)
        missing = [n for n in ("normalization.json", "model.keras", "metrics.json")
                   if not os.path.lexists(self.path / n)]
        if missing:
            raise UserError(
                f"{str(self.path)!r} is not a finished run (no {', '.join(missing)}): rerun its "
                "command to finish it"
            )
        refuse_linked_run_files(self.path)
        norm = _check_normalization(_read(self.path / "normalization.json"),
                                    self.path / "normalization.json")
        self.normalization = norm
        from kzoo.models.keras_files import load_keras

        self.model = load_keras(self.path / "model.keras", compile=False)
        from kzoo.export.from_run import _projection
        from kzoo.export.signature import make_raw_input

        projection, raw_shape = _projection(self.path, norm)
        model_shape = tuple(self.model.inputs[0].shape[1:])
        # The export's own description of raw inputs: its `normalize` is the NumPy twin of the
        # signature (standardisation, then a PCA / ZCA projection if the run used one).
        self._raw = make_raw_input(model_shape, norm["raw_dtype"], norm["mean"], norm["std"],
                                   projection, raw_shape or norm.get("input_shape"),
                                   norm.get("raw_range"))
        self.input_shape: tuple = self._raw.shape
        self.input_dtype: str = self._raw.dtype
        self.input_range = self._raw.range
        self.class_names: list[str] | None = norm.get("class_names")

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(self.input_shape, self.input_dtype, self.input_range)

    def predict(self, inputs, source: str = "inputs", *, rescale: bool = False,
                notes: list | None = None) -> dict[str, np.ndarray]:
        """`probabilities` and `class_id` of a raw batch (or one example), as `ServedModel.predict`."""
        batch = prepare(inputs, self.input_spec, source, rescale=rescale, notes=notes)
        x = self._raw.normalize(batch)
        parts = [np.asarray(self.model(x[i:i + _CHUNK], training=False), np.float32)
                 for i in range(0, len(x), _CHUNK)]
        probabilities = np.concatenate(parts)
        return {"probabilities": probabilities, "class_id": probabilities.argmax(-1)}


def input_spec_of_run(run_dir) -> InputSpec | None:
    """The run's input spec from normalization.json alone (no TensorFlow), or None if unreadable."""
    from kzoo.export.from_run import _check_normalization, _read

    path = Path(run_dir) / "normalization.json"
    if not os.path.lexists(path):
        return None
    norm = _check_normalization(_read(path), path)
    shape = norm.get("raw_shape") or norm.get("input_shape")
    if shape is None:
        return None
    value_range = norm.get("raw_range")
    return InputSpec(tuple(shape), norm["raw_dtype"],
                     tuple(value_range) if value_range is not None else None)
