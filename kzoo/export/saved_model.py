"""Export a classifier as a versioned, verified TensorFlow SavedModel, atomically."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np

from kzoo.export.errors import ExportVerificationError
from kzoo.export.metadata import FORMAT, FORMAT_VERSION, library_versions, utc_now, write_metadata
from kzoo.export.paths import (
    ExportDir,
    ExportPathError,
    next_version,
    validate_name,
    validate_root,
    validate_version,
)
from kzoo.export.signature import (
    INPUT_NAME,
    SIGNATURE_KEY,
    build_export_archive,
    make_raw_input,
    model_io,
    probe_inputs,
)
from kzoo.utils import publish
from kzoo.utils.files import STORAGE_ERRNOS, is_storage_fault, storage_error
from kzoo.utils.locks import HOLDER_FILE, LOCK_FILE, folder_lock


def export_saved_model(
    model,
    name,
    *,
    root="saved_models",
    version=None,
    force=False,
    mean=None,
    std=None,
    raw_dtype="float32",
    raw_range=None,
    class_names=None,
    from_logits=False,
    builder=None,
    metrics=None,
    metadata=None,
    probe=None,
    atol=1e-5,
    tflite=False,
    projection=None,
    raw_shape=None,
) -> Path:
    """Export `model` to `<root>/<name>/<version>/` with a raw-input `serving_default` signature.

    The signature takes raw inputs (`raw_dtype`, e.g. uint8 pixels), applies the training
    normalisation `(float32(x) - mean) / std` and returns `probabilities` (float32, batch x classes)
    and `class_id` (int64). The version is written into a hidden staging directory, reloaded with
    `tf.saved_model.load` and compared with the in-memory model on a probe batch, and only then
    renamed into place; on any failure nothing new is visible and earlier versions are untouched.
    Staging directories left in `<root>/<name>/` by killed exports (their process is gone) are
    deleted first; those of exports still running are left alone. One export per name at a time
    (a second one is refused, naming the holder); `<name>` and the version must not be symbolic links
    (refused, never followed); a full or read-only disk ends in a one-line StorageError with the
    staging directory removed.

    Args:
        model: a built single-input keras.Model that outputs (batch, classes).
        name: model name, one path component (letters, digits, '.', '_', '-').
        root: directory holding the TF Serving model tree.
        version: positive int; default one more than the highest existing version.
        force: replace an existing `version` (only after the new one is complete and verified).
        mean, std: the training normalisation, broadcastable to the input shape (default 0 and 1).
        raw_dtype: dtype clients send, e.g. "uint8" for images.
        raw_range: `(low, high)`, the raw values the model was trained on (digits: 0, 16), recorded
            in the metadata's input spec; `kzoo predict` refuses inputs outside it.
        class_names: one label per class (default "0", "1", ...).
        from_logits: the model outputs logits; the signature applies softmax.
        builder: JSON-serialisable description of how the model was built, e.g.
            `{"name": "plain_cnn", "kwargs": {"classes": 10}}`.
        metrics: JSON-serialisable metrics measured before export, e.g. `{"test_accuracy": 0.97}`.
        metadata: any further JSON-serialisable facts, stored under `"extra"`.
        probe: raw inputs (batch first) to verify with; default 16 random inputs of the right dtype.
        atol: largest tolerated absolute difference of the probabilities.
        tflite: also convert the signature to TensorFlow Lite, check it against the reloaded
            SavedModel on the probe batch (same `atol`) and publish it in the version as
            `assets.extra/model.tflite`. A model computing in bfloat16 / float16 is converted from
            its float32 twin (TFLite has no such kernels), checked against the twin's SavedModel
            and its difference from the published one recorded (`kzoo.export.tflite`).
        projection, raw_shape: a PCA / ZCA normalisation (`kzoo.data.load(normalize="pca")`):
            clients send examples of `raw_shape`, and the signature maps the standardised,
            flattened example through the (prod(raw_shape), prod(model input)) `projection`.

    Returns:
        The path of the published version directory.

    Example:
        >>> path = export_saved_model(model, "digits_cnn", mean=info.mean, std=info.std,
        ...                           raw_dtype="uint8", class_names=info.class_names)
        >>> served = tf.saved_model.load(str(path)).signatures["serving_default"]
        >>> served(inputs=tf.constant(images))["class_id"]

    Reference:
        TensorFlow Serving's model layout and SignatureDefs,
        https://www.tensorflow.org/tfx/serving/serving_basic
    """
    name = validate_name(name)
    root = validate_root(root)
    if version is not None:
        validate_version(version)
    for arg, value in (("force", force), ("from_logits", from_logits), ("tflite", tflite)):
        if not isinstance(value, bool):
            raise ValueError(f"`{arg}` must be True or False; received {arg}={value!r}.")
    input_shape, num_classes = model_io(model)
    raw = make_raw_input(input_shape, raw_dtype, mean, std, projection, raw_shape, raw_range)
    class_names = _check_class_names(class_names, num_classes)
    extra = {
        arg: _check_json(arg, value)
        for arg, value in (("builder", builder), ("metrics", metrics), ("metadata", metadata))
    }
    probe = probe_inputs(raw) if probe is None else _check_probe(probe, raw)
    expected = _reference_probabilities(model, raw, probe, from_logits)

    model_dir = root / name
    if os.path.islink(model_dir):  # refused again, race-free, once the directory is open
        raise ExportPathError(
            f"{str(model_dir)!r} is a symbolic link; kzoo does not follow links inside the export "
            "root (it would publish, and with --force delete, wherever the link points)"
        )
    if version is not None and not force and os.path.lexists(model_dir / str(version)):
        raise FileExistsError(
            f"{str(model_dir / str(version))!r} already exists; pass force=True (--force) to "
            "replace it or choose another version."
        )

    def build_record(staging: Path) -> dict:
        build_export_archive(model, raw, from_logits=from_logits).write_out(
            str(staging), verbose=False
        )
        verification = verify_saved_model(staging, probe, expected, atol=atol)
        tflite_check = None
        if tflite:
            from kzoo.export.tflite import add_tflite

            tflite_check = add_tflite(
                model, lambda m: build_export_archive(m, raw, from_logits=from_logits), staging,
                probe, atol=atol,
            )
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "version": None,
            "created": utc_now(),
            "signature": {
                "key": SIGNATURE_KEY,
                **raw.to_json(),
                "outputs": {
                    "probabilities": {"shape": [None, num_classes], "dtype": "float32"},
                    "class_id": {"shape": [None], "dtype": "int64"},
                },
            },
            "classes": class_names,
            "model": {
                "name": model.name,
                "builder": extra["builder"],
                "from_logits": from_logits,
                "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                "keras_config": json.loads(model.to_json()),
            },
            "metrics": extra["metrics"] or {},
            "verification": verification,
            "tflite": tflite_check,
            "versions": library_versions(),
            "extra": extra["metadata"] or {},
        }

    try:
        with ExportDir(root, name) as export_dir:
            for entry in (LOCK_FILE, HOLDER_FILE):
                export_dir.refuse_link(entry)
            with folder_lock(export_dir.path, what="export"):
                return _export_locked(export_dir, version, force, build_record)
    except BaseException as err:
        code = storage_errno(err)
        if code is None:
            raise
        target = model_dir / (str(version) if version is not None else "")
        raise storage_error(OSError(code, os.strerror(code)), target, what="export to") from err


def _export_locked(export_dir: ExportDir, version, force: bool, build_record) -> Path:
    """The export, with `<root>/<name>` open and locked: stage, verify, publish."""
    if version is not None:
        existing = export_dir.refuse_link(str(version))
        if existing is not None and not force:
            raise FileExistsError(
                f"{str(export_dir.path / str(version))!r} already exists; pass force=True "
                "(--force) to replace it or choose another version."
            )
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            raise ExportPathError(f"{str(export_dir.path / str(version))!r} is not a version directory")
    publish.remove_stale_staging_dirs(export_dir.path, dir_fd=export_dir.fd)  # killed exports'
    staging = publish.make_staging_dir(Path(export_dir.where()))
    try:
        record = build_record(staging)
        return _publish(staging, export_dir, version, force, record)
    except BaseException:
        if export_dir.fd is not None:
            shutil.rmtree(staging.name, ignore_errors=True, dir_fd=export_dir.fd)
        else:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, export_dir: ExportDir, version, force: bool, record: dict) -> Path:
    # With an automatic version, a concurrent export may claim the number first: take the next one.
    for _ in range(100):
        chosen = version if version is not None else next_version(export_dir.where())
        record["version"] = chosen
        write_metadata(staging, record)
        publish.fsync_tree(staging)
        target = export_dir.path / str(chosen)
        try:
            if export_dir.fd is not None:
                publish.publish_dir(
                    staging.name, str(chosen), replace=force and version is not None,
                    dir_fd=export_dir.fd,
                )
            else:
                export_dir.check_unchanged()
                publish.publish_dir(staging, target, replace=force and version is not None)
            return target
        except FileExistsError:
            if version is not None:
                raise FileExistsError(
                    f"{str(target)!r} already exists; pass force=True (--force) to replace it or "
                    "choose another version."
                ) from None
    raise RuntimeError(f"Could not claim a free version under {str(export_dir.path)!r}.")


def verify_saved_model(path, probe, expected, *, atol=1e-5) -> dict:
    """Reload `path` and compare its signature on `probe` with `expected` probabilities.

    Raises ExportVerificationError on a mismatch; returns the numbers for the metadata.
    """
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures[SIGNATURE_KEY]
    outputs = signature(**{INPUT_NAME: tf.constant(probe)})
    probabilities = outputs["probabilities"].numpy()
    class_id = outputs["class_id"].numpy()
    max_abs_diff = float(np.max(np.abs(probabilities - expected)))
    # A class may flip only where the two best classes are closer than the tolerance.
    top2 = np.sort(expected, axis=-1)[:, -2:] if expected.shape[1] > 1 else None
    decided = np.ones(len(expected), bool) if top2 is None else (top2[:, 1] - top2[:, 0]) > 2 * atol
    class_mismatches = int(np.sum((class_id != expected.argmax(-1)) & decided))
    if not max_abs_diff <= atol or class_mismatches:
        raise ExportVerificationError(
            f"The reloaded SavedModel differs from the in-memory model on the probe batch: max "
            f"absolute probability difference {max_abs_diff:.3g} (tolerance {atol:g}), "
            f"{class_mismatches} class ids differ. Nothing was published."
        )
    return {
        "probe_size": int(len(probe)),
        "max_abs_diff": max_abs_diff,
        "atol": float(atol),
        "class_id_mismatches": class_mismatches,
    }


def _reference_probabilities(model, raw, probe, from_logits: bool) -> np.ndarray:
    import tensorflow as tf

    # As a graph, like the SavedModel: TensorFlow's optimiser fuses ops there (a convolution with
    # its bias add and ReLU) that eager execution runs one by one, and under bfloat16 the fused
    # kernel rounds once where the separate ones round twice (probabilities differ by ~1e-2).
    infer = tf.function(lambda x: model(x, training=False), autograph=False)
    computed = infer(raw.normalize(probe))
    outputs = np.asarray(computed, dtype=np.float32)
    if from_logits:
        shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    sums = outputs.sum(axis=-1)
    # A softmax computed in bfloat16 (a model built under mixed_bfloat16 whose last layer is not
    # float32) rounds each probability: its rows sum to 1 within two of its epsilons, not 1e-3.
    atol = max(1e-3, 2 * _epsilon(computed.dtype))
    if np.any(outputs < 0) or not np.allclose(sums, 1.0, atol=atol):
        raise ValueError(
            "The model's outputs are not probabilities (rows sum to "
            f"{sums.min():.3g}..{sums.max():.3g}); pass from_logits=True for a model that ends "
            "without softmax."
        )
    return outputs


def _epsilon(dtype) -> float:
    """The machine epsilon of a TensorFlow floating dtype (bfloat16's too)."""
    import tensorflow as tf

    return float(tf.experimental.numpy.finfo(dtype).eps)


def _check_class_names(class_names, num_classes: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    names = list(class_names) if not isinstance(class_names, str) else None
    if names is None or len(names) != num_classes or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f"`class_names` must be {num_classes} strings, one per model output; received "
            f"class_names={class_names!r}."
        )
    return names


def _check_probe(probe, raw) -> np.ndarray:
    probe = np.asarray(probe)
    if probe.ndim != len(raw.shape) + 1 or len(probe) == 0 or any(
        d is not None and d != p for d, p in zip(raw.shape, probe.shape[1:], strict=True)
    ):
        raise ValueError(
            f"`probe` must be a non-empty batch of shape (N, {', '.join(map(str, raw.shape))}); "
            f"received shape {probe.shape}."
        )
    return probe.astype(raw.dtype)


def _check_json(arg: str, value):
    """`value` as plain JSON data (NumPy scalars and arrays become numbers and lists)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_numpy_to_builtin))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`{arg}` must be JSON-serialisable (dicts, lists, strings, finite numbers); received "
            f"{arg}={value!r} ({err})."
        ) from err


def _numpy_to_builtin(obj):
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def storage_errno(err: BaseException) -> int | None:
    """The errno of a storage fault (full, read-only, quota, permissions) behind `err`, if any.

    TensorFlow reports them as its own errors, with the C library's message in the text.
    """
    if is_storage_fault(err):
        return err.errno
    if type(err).__module__.startswith("tensorflow"):
        text = str(err)
        for code in STORAGE_ERRNOS:
            if os.strerror(code) in text:
                return code
    return None
