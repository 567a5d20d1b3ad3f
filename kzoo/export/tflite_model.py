"""`kzoo predict --tflite`: an exported version's TensorFlow Lite model, run by the TFLite interpreter.

TFLite applies XNNPACK on CPUs by default: for one image at a time it answers up to ~6x faster than
the SavedModel, whose TensorFlow graph pays a per-op and thread-pool cost that a batch of one cannot
spread (`kzoo bench` measures both; a compute-bound model gains little).
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from kzoo.export.contract import INPUT_NAME, RAW_DTYPES, SIGNATURE_KEY
from kzoo.export.input_range import InputSpec
from kzoo.export.loaded_model import prepare
from kzoo.export.metadata import read_metadata
from kzoo.export.paths import resolve_saved_model_dir
from kzoo.export.tflite import TFLITE_FILE, make_runner
from kzoo.export.version_files import LinkInsideError, open_inside
from kzoo.utils.errors import UserError

# FlatBuffers address less than 2 GiB.
MAX_TFLITE_BYTES = 2**31
# A TFLite flatbuffer names its schema in bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"


def tflite_version(path) -> tuple:
    """(version directory, metadata, flatbuffer) of an export that holds a TFLite model, the file
    read and checked against the metadata (no TensorFlow); else UserError."""
    version_dir = resolve_saved_model_dir(path)
    meta = read_metadata(version_dir)
    if meta is None or not meta.get("tflite"):
        raise UserError(
            f"--tflite: {str(version_dir)!r} holds no TensorFlow Lite model; export one with "
            "`kzoo export <run_dir> --name NAME --tflite`"
        )
    dtype = meta["signature"]["input"]["dtype"]
    if dtype not in RAW_DTYPES:  # kzoo writes no other; the inputs are prepared from it
        raise UserError(f"--tflite: the metadata of {str(version_dir)!r} records the input dtype "
                        f"{dtype!r}, not one kzoo exports ({', '.join(RAW_DTYPES)})")
    return version_dir, meta, _read_checked(version_dir, meta)


class TFLiteServedModel:
    """The TFLite model of an exported version, with the same inputs and outputs as its SavedModel.

    The file is read from inside the version without following a link, at most 2 GiB, and run only
    if its size and sha256 match the version's metadata. A model that computes in bfloat16 was
    converted from its float32 twin (`kzoo.export.tflite`), so its probabilities differ from the
    SavedModel's by what the metadata's `tflite.vs_saved_model` records.

    Args:
        path: a version directory, or `<root>/<name>` for its latest version.
        threads: CPU threads of the interpreter (default: the cores this process may use).

    Example:
        >>> lite = TFLiteServedModel("saved_models/digits_resnet20")
        >>> lite.predict(images)["class_id"]
    """

    def __init__(self, path, threads: int | None = None, *, checked: tuple | None = None):
        self.path, self.metadata, flatbuffer = checked or tflite_version(path)
        shown = str(self.path / TFLITE_FILE)
        try:
            self._runner = make_runner(flatbuffer, threads)
            details = self._runner.get_input_details()[INPUT_NAME]
        except (ValueError, RuntimeError, KeyError) as err:  # its sha256 matched an edited metadata
            raise UserError(f"--tflite: {shown!r} is not a TFLite model with a {SIGNATURE_KEY!r} "
                            f"signature taking {INPUT_NAME!r} ({str(err).splitlines()[0]})") from None
        self.input_spec = InputSpec.from_json(self.metadata["signature"]["input"])
        model_dtype = np.dtype(details["dtype"]).name
        model_shape = tuple(None if d < 0 else int(d) for d in details["shape_signature"][1:])
        if (model_dtype, model_shape) != (self.input_spec.dtype, tuple(self.input_spec.shape)):
            raise UserError(
                f"--tflite: {shown!r} takes {model_dtype} {model_shape} inputs; the metadata "
                f"records {self.input_spec.dtype} {tuple(self.input_spec.shape)}; not run"
            )

    @property
    def class_names(self) -> list[str] | None:
        return self.metadata.get("classes")

    def predict(self, inputs, source: str = "inputs", *, rescale: bool = False,
                notes: list | None = None) -> dict[str, np.ndarray]:
        """Run the TFLite signature on a raw batch (checked as `ServedModel.predict` checks it)."""
        batch = prepare(inputs, self.input_spec, source, rescale=rescale, notes=notes)
        outputs = self._runner(**{INPUT_NAME: batch})
        return {key: np.asarray(value) for key, value in outputs.items()}


def _read_checked(version_dir, meta) -> bytes:
    shown = str(version_dir / TFLITE_FILE)
    try:
        fd = open_inside(version_dir, TFLITE_FILE)
    except LinkInsideError as err:
        raise UserError(f"--tflite: {str(version_dir / err.filename)!r} is a symbolic link; kzoo "
                        "reads models only from inside the version") from None
    except OSError as err:
        raise UserError(f"--tflite: {shown!r} cannot be read ({err.strerror or err})") from None
    if fd is None:
        raise UserError(f"--tflite: {shown!r} is missing, though the metadata records it")
    try:
        size = os.fstat(fd).st_size
        if size >= MAX_TFLITE_BYTES:
            raise UserError(f"--tflite: {shown!r} is {size:,} bytes, more than the "
                            f"{MAX_TFLITE_BYTES:,} a TFLite model can have; not read")
        if size != meta["tflite"]["bytes"]:
            raise UserError(f"--tflite: {shown!r} is {size:,} bytes; the metadata records "
                            f"{meta['tflite']['bytes']:,}")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(size + 1)
    finally:
        os.close(fd)
    expected = meta.get("files", {}).get(TFLITE_FILE)
    if len(data) != size or hashlib.sha256(data).hexdigest() != expected:
        raise UserError(f"--tflite: {shown!r} does not match the sha256 its version's metadata "
                        "records; not run")
    if data[4:8] != TFLITE_IDENTIFIER:
        raise UserError(f"--tflite: {shown!r} is not a TensorFlow Lite model (no "
                        f"{TFLITE_IDENTIFIER.decode()} identifier); not run")
    return data
