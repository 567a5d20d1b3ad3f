"""TensorFlow Lite conversion of an exported version, checked against the SavedModel it came from.

The `.tflite` file converts the same `serving_default` signature (raw inputs, normalisation baked in,
`probabilities` and `class_id` out) and is written to `<version>/assets.extra/model.tflite`, inside the
staging directory, so it is published, checksummed and replaced together with its version.

TensorFlow Lite has no bfloat16 / float16 convolution kernels, so a model that computes in a mixed
policy (kzoo's default on CPUs with AVX512_BF16 or AMX) is converted from its float32 twin: the same
architecture and weights with every layer computing in float32. That conversion is checked against
the twin's own SavedModel (the converter's exactness, at the export tolerance), and its difference
from the published, reduced-precision SavedModel is recorded beside it.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from kzoo.export.contract import INPUT_NAME, SIGNATURE_KEY, TFLITE_FILE
from kzoo.export.errors import TFLiteMismatchError


def convert_saved_model(path) -> bytes:
    """The TFLite flatbuffer of the `serving_default` signature of the SavedModel at `path`.

    Reference:
        TensorFlow Lite converter, https://www.tensorflow.org/lite/models/convert/convert_models
    """
    import tensorflow as tf

    from kzoo.utils.errors import UserError

    converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=[SIGNATURE_KEY])
    try:
        return converter.convert()
    except Exception as err:
        if type(err).__name__ != "ConverterError":  # the converter's refusal; anything else is ours
            raise
        first = next((line for line in str(err).splitlines() if "error:" in line), str(err))
        what = first.split("error:", 1)[-1].split("): ")[-1].strip()  # without the op's location
        raise UserError(
            "--tflite: the TensorFlow Lite converter cannot convert this model with TFLite's "
            f"builtin ops ({type(err).__name__}: {_short(what)}); export it without --tflite"
        ) from None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compute_dtype(model) -> str:
    """"float32" if every layer of `model` computes in float32, else the first other compute dtype.

    Every layer counts, those of a nested model or block too: one bfloat16 convolution anywhere is
    one the converter cannot translate.
    """
    from kzoo.keras_private import all_layers

    for layer in all_layers(model):
        dtype = layer.dtype_policy.compute_dtype
        if dtype != "float32":
            return dtype
    return "float32"


def float32_twin(model):
    """`model` rebuilt with every layer computing in float32, holding the same weights.

    kzoo's blocks create their sub-layers with their own dtype policy, so a float32 policy on each
    cloned layer reaches every kernel.
    """
    import keras

    from kzoo.training.precision import precision_policy
    from kzoo.utils.errors import UserError

    def clone_layer(layer):
        return layer.__class__.from_config({**_float32_config(layer.get_config()), "dtype": "float32"})

    def refuse(why: str):
        raise UserError(
            f"--tflite: the model computes in {compute_dtype(model)}, which TFLite cannot run, and "
            f"its float32 twin cannot be built ({why}); build the model under the float32 policy "
            "to export it with --tflite"
        ) from None

    try:
        # Under a float32 global policy: the rebuilt Sequential / Functional wrappers take it.
        with precision_policy("float32"):
            twin = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)
        twin.set_weights(model.get_weights())
    except (ValueError, TypeError, NotImplementedError) as err:  # a layer Keras cannot clone
        refuse(f"{type(model).__name__}: {str(err).splitlines()[0]}")
    left = compute_dtype(twin)
    if left != "float32":
        refuse(f"a layer of the twin still computes in {left}")
    return twin


def _float32_config(config):
    """A layer's config with its dtype policy, and those of the layers its config nests (e.g. the
    GRUs a Bidirectional wrapper rebuilds from its own config), set to float32."""
    if isinstance(config, list):
        return [_float32_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    return {key: "float32" if key == "dtype" and _is_policy(value) else _float32_config(value)
            for key, value in config.items()}


def _is_policy(value) -> bool:
    """A serialized dtype policy, or the name of a reduced-precision one (not an input's int32)."""
    if isinstance(value, dict):
        return str(value.get("class_name", "")).endswith("DTypePolicy")
    return isinstance(value, str) and "float16" in value


def add_tflite(model, export_archive, staging: Path, probe, *, atol: float) -> dict:
    """Convert `model`'s signature to TFLite into `staging`, check it, return the metadata record.

    Args:
        model: the exported Keras model.
        export_archive: `model -> keras.export.ExportArchive` with the same `serving_default`.
        staging: the version's staging directory, holding the SavedModel already verified.
        probe: the raw inputs the checks run on.
        atol: the largest probability difference the conversion may make.
    """
    dtype = compute_dtype(model)
    if dtype == "float32":
        flatbuffer = convert_saved_model(staging)
        check = check_tflite(flatbuffer, staging, probe, atol=atol)
    else:
        # Inside the staging directory, so an export killed here leaves nothing the next export
        # to this name does not remove; deleted before the version's files are checksummed.
        twin_dir = staging / ".float32-twin"
        try:
            export_archive(float32_twin(model)).write_out(str(twin_dir), verbose=False)
            flatbuffer = convert_saved_model(twin_dir)
            check = check_tflite(flatbuffer, twin_dir, probe, atol=atol)
        finally:
            shutil.rmtree(twin_dir, ignore_errors=True)
        check["converted_from"] = "float32 twin"
        check["saved_model_compute_dtype"] = dtype
        check["vs_saved_model"] = compare_with_saved_model(flatbuffer, staging, probe)
    (staging / TFLITE_FILE).parent.mkdir(exist_ok=True)
    (staging / TFLITE_FILE).write_bytes(flatbuffer)  # fsynced with the tree before publishing
    return check


def compare_with_saved_model(flatbuffer: bytes, saved_model_dir, probe) -> dict:
    """How far the TFLite model's probabilities lie from the SavedModel's on `probe` (no limit)."""
    expected, expected_class = _saved_model_outputs(saved_model_dir, probe)
    out = run_tflite(flatbuffer, probe)
    return {
        "max_abs_diff": float(np.max(np.abs(out["probabilities"] - expected))),
        "class_id_agreement": float(np.mean(out["class_id"] == expected_class)),
    }


def _saved_model_outputs(saved_model_dir, probe):
    import tensorflow as tf

    signature = tf.saved_model.load(str(saved_model_dir)).signatures[SIGNATURE_KEY]
    reference = signature(**{INPUT_NAME: tf.constant(probe)})
    return reference["probabilities"].numpy(), reference["class_id"].numpy()


def interpreter_threads() -> int:
    """The CPU cores this process may run on (TFLite's own default is one thread)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_runner(flatbuffer: bytes, threads: int | None = None):
    """The `serving_default` signature runner of a TFLite flatbuffer on `threads` CPU threads
    (default: `interpreter_threads()`)."""
    import tensorflow as tf

    with warnings.catch_warnings():
        # tf.lite.Interpreter is deprecated in favour of the separate LiteRT package, which kzoo
        # does not depend on; TF 2.21's interpreter runs the same flatbuffer.
        warnings.simplefilter("ignore", UserWarning)
        interpreter = tf.lite.Interpreter(
            model_content=flatbuffer, num_threads=threads or interpreter_threads()
        )
    return interpreter.get_signature_runner(SIGNATURE_KEY)


def run_tflite(flatbuffer: bytes, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Call the converted `serving_default` signature on a batch of raw `inputs`."""
    runner = make_runner(flatbuffer)
    return {key: np.asarray(value) for key, value in runner(**{INPUT_NAME: inputs}).items()}


def check_tflite(flatbuffer: bytes, saved_model_dir, probe: np.ndarray, *, atol=1e-5) -> dict:
    """Compare the TFLite model with the SavedModel at `saved_model_dir` on the `probe` batch.

    Raises TFLiteMismatchError when a probability differs by more than `atol` or a class id differs
    where the SavedModel's two best classes are further apart than 2 * `atol`; returns the numbers.
    """
    expected, expected_class = _saved_model_outputs(saved_model_dir, probe)
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
