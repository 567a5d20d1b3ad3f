"""Load an exported version and call its `serving_default` signature from Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzoo.export.contract import INPUT_NAME, SIGNATURE_KEY
from kzoo.export.input_range import InputSpec, prepare_inputs
from kzoo.export.metadata import read_metadata
from kzoo.export.paths import resolve_saved_model_dir
from kzoo.export.predict import check_inputs
from kzoo.export.version_files import scan_version
from kzoo.utils.errors import UserError


class ServedModel:
    """An exported SavedModel as its clients see it: raw inputs in, `probabilities`/`class_id` out.

    Loading and calling it runs the SavedModel's TensorFlow graph, which can read and write files
    and use the network (TensorFlow is not a sandbox): a SavedModel is a program, so load only ones
    you trust (e.g. ones you exported yourself).

    Args:
        path: a version directory `<root>/<name>/<version>`, or `<root>/<name>` for its latest version.

    Example:
        >>> served = kzoo.export.load_saved_model("saved_models/digits_cnn")
        >>> served.predict(images)["class_id"]
    """

    def __init__(self, path):
        import tensorflow as tf

        self.path: Path = resolve_saved_model_dir(path)
        self.metadata: dict | None = read_metadata(self.path)
        inside = scan_version(self.path, checksums=False)
        if inside.problems():
            raise UserError(
                f"Refusing to load {str(self.path)!r}: it holds files kzoo does not follow or read ("
                + "; ".join(inside.problems()[:5]) + ")"
            )
        self._loaded = tf.saved_model.load(str(self.path))
        if SIGNATURE_KEY not in self._loaded.signatures:
            raise ValueError(
                f"{str(self.path)!r} has no {SIGNATURE_KEY!r} signature; found "
                f"{sorted(self._loaded.signatures)}."
            )
        self.signature = self._loaded.signatures[SIGNATURE_KEY]
        specs = self.signature.structured_input_signature[1]
        if list(specs) != [INPUT_NAME]:
            raise ValueError(
                f"{str(self.path)!r} was not exported by kzoo: its signature takes {sorted(specs)}, "
                f"not a single {INPUT_NAME!r} tensor."
            )
        spec = specs[INPUT_NAME]
        self.input_shape: tuple = tuple(spec.shape.as_list()[1:])
        self.input_dtype: str = spec.dtype.name

    @property
    def class_names(self) -> list[str] | None:
        return None if self.metadata is None else self.metadata.get("classes")

    @property
    def input_range(self) -> tuple | None:
        """(low, high): the raw values of the training split, when the export records them."""
        spec = ((self.metadata or {}).get("signature") or {}).get("input") or {}
        value_range = spec.get("range")
        return tuple(value_range) if value_range is not None else None

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec(self.input_shape, self.input_dtype, self.input_range)

    def predict(self, inputs, source: str = "inputs", *, rescale: bool = False,
                notes: list | None = None) -> dict[str, np.ndarray]:
        """Run the signature on a raw batch (or one example).

        Wrong shapes or dtypes raise ValueError; when the export records its training range,
        values outside it raise `InputRangeError` unless `rescale` maps the input's own range onto
        it (see `kzoo.export.input_range.prepare_inputs`).
        """
        import tensorflow as tf

        batch = prepare(inputs, self.input_spec, source, rescale=rescale, notes=notes)
        outputs = self.signature(**{INPUT_NAME: tf.constant(batch)})
        return {key: value.numpy() for key, value in outputs.items()}


def prepare(inputs, spec: InputSpec, source: str, *, rescale: bool = False,
            notes: list | None = None) -> np.ndarray:
    """`inputs` checked against `spec` as a batch of its dtype: values within its range (or, for a
    model that records none, of a dtype that converts without loss)."""
    if spec.range is None:
        if rescale:
            raise UserError(
                f"{source}: --rescale (rescale=True) needs the raw range the model was trained on, "
                "and this model records none (exported by an older kzoo, or from a .keras file "
                "without --raw-range); give inputs as the model was trained on"
            )
        return check_inputs(inputs, spec.shape, spec.dtype, source)
    batch = check_inputs(inputs, spec.shape, spec.dtype, source, any_dtype=True)
    return prepare_inputs(batch, spec, source, rescale=rescale, notes=notes)


def load_saved_model(path) -> ServedModel:
    """Load `<root>/<name>/<version>` (or the latest version of `<root>/<name>`) for prediction.

    Only for SavedModels you trust: loading one runs its graph (see `ServedModel`).
    """
    return ServedModel(path)
