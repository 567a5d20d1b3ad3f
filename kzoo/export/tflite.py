"""TensorFlow Lite conversion of an exported version, checked against the SavedModel it came from.

The `.tflite` file converts the same `serving_default` signature (raw inputs, normalisation baked in,
`probabilities` and `class_id` out) and is written to `<version>/assets.extra/model.tflite`, inside the
staging directory, so it is published, checksummed and replaced together with its version.
"""

from __future__ import annotations

import warnings

import numpy as np

from kzoo.export.contract import INPUT_NAME, SIGNATURE_KEY
from kzoo.export.errors import TFLiteMismatchError

TFLITE_FILE = "assets.extra/model.tflite"


def convert_saved_model(path) -> bytes:
    """The TFLite flatbuffer of the `serving_default` signature of the SavedModel at `path`.

    Reference:
        TensorFlow Lite converter, https://www.tensorflow.org/lite/models/convert/convert_models
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=[SIGNATURE_KEY])
    return converter.convert()


def run_tflite(flatbuffer: bytes, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Call the converted `serving_default` signature on a batch of raw `inputs`."""
    import tensorflow as tf

    with warnings.catch_warnings():
        # tf.lite.Interpreter is deprecated in favour of the separate LiteRT package, which kzoo does
        # not depend on; TF 2.21's interpreter still runs the same flatbuffer.
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner(SIGNATURE_KEY)
    return {key: np.asarray(value) for key, value in runner(**{INPUT_NAME: inputs}).items()}


def check_tflite(flatbuffer: bytes, saved_model_dir, probe: np.ndarray, *, atol=1e-5) -> dict:
    """Compare the TFLite model with the SavedModel at `saved_model_dir` on the `probe` batch.

    Raises TFLiteMismatchError when a probability differs by more than `atol` or a class id differs
    where the SavedModel's two best classes are further apart than 2 * `atol`; returns the numbers.
    """
    import tensorflow as tf

    signature = tf.saved_model.load(str(saved_model_dir)).signatures[SIGNATURE_KEY]
    reference = signature(**{INPUT_NAME: tf.constant(probe)})
    expected = reference["probabilities"].numpy()
    expected_class = reference["class_id"].numpy()
    out = run_tflite(flatbuffer, probe)
    max_abs_diff = float(np.max(np.abs(out["probabilities"] - expected)))
    top2 = np.sort(expected, axis=-1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > 2 * atol if expected.shape[1] > 1 else True
    class_mismatches = int(np.sum((out["class_id"] != expected_class) & decided))
    if not max_abs_diff <= atol or class_mismatches:
        raise TFLiteMismatchError(
            f"The TFLite conversion differs from the SavedModel on the probe batch: max absolute "
            f"probability difference {max_abs_diff:.3g} (tolerance {atol:g}), {class_mismatches} "
            "class ids differ. Nothing was published."
        )
    return {
        "file": TFLITE_FILE,
        "bytes": len(flatbuffer),
        "probe_size": int(len(probe)),
        "max_abs_diff": max_abs_diff,
        "atol": float(atol),
        "class_id_mismatches": class_mismatches,
    }
