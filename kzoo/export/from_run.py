"""Export a finished training run directory (see `kzoo.training.rundir` for its layout)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kzoo.models.keras_files import load_keras
from kzoo.utils.bounded_json import BoundedJSONError, loads_bounded
from kzoo.utils.errors import UserError

RUN_FILES = ("config.json", "normalization.json", "model.keras", "metrics.json")


def export_run(
    run_dir, name, *, root="saved_models", version=None, force=False, probe=None, tflite=False
) -> Path:
    """Export the final model of a finished run with the run's own normalisation and metrics.

    Reads `model.keras` (scanned, then loaded with safe_mode=True), `normalization.json` (mean, std,
    raw dtype and range, class names, input shape and classes of the training split; for a PCA / ZCA run the
    projection, which the signature applies to raw inputs), `config.json` (model
    name and builder arguments) and `metrics.json` (test metrics; its presence marks a finished
    run). The metadata's builder record holds everything `kzoo.create_model` needs to rebuild the
    architecture, `classes` and `input_shape` included.

    Args:
        run_dir: the run directory `kzoo.training.train` wrote.
        name, root, version, force, probe, tflite: as in `export_saved_model`.

    Returns:
        The path of the published version directory.

    Example:
        >>> kzoo.export.export_run("runs/digits_cnn", "digits_cnn")
        PosixPath('saved_models/digits_cnn/1')
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run_dir={str(run_dir)!r} is not a directory.")
    missing = [f for f in RUN_FILES if not os.path.lexists(run_dir / f)]
    if missing:
        raise FileNotFoundError(
            f"run_dir={str(run_dir)!r} is not a finished kzoo run: missing {', '.join(missing)} "
            "(metrics.json appears when training has finished)."
        )
    refuse_linked_run_files(run_dir)
    saved = _read(run_dir / "config.json")
    config = _field(saved, "config", dict, run_dir / "config.json")
    _field(config, "model", str, run_dir / "config.json")
    _optional(config, "model_kwargs", dict, run_dir / "config.json")
    norm = _check_normalization(_read(run_dir / "normalization.json"), run_dir / "normalization.json")
    metrics = _check_metrics(_read(run_dir / "metrics.json"), run_dir / "metrics.json")
    model = load_keras(run_dir / "model.keras", compile=False)
    projection, raw_shape = _projection(run_dir, norm)
    # Imported only now: a run refused above never loads TensorFlow.
    from kzoo.export.saved_model import export_saved_model

    return export_saved_model(
        model,
        name,
        root=root,
        version=version,
        force=force,
        mean=norm.get("mean"),
        std=norm.get("std"),
        raw_dtype=norm.get("raw_dtype", "float32"),
        raw_range=norm.get("raw_range"),
        class_names=norm.get("class_names"),
        builder={"name": config.get("model"), "kwargs": _builder_kwargs(config, norm)},
        metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        metadata={
            "run_dir": str(run_dir.resolve()),
            "dataset": norm.get("dataset"),
            "fingerprint": metrics.get("fingerprint"),
            "train_config": config,
        },
        probe=probe,
        tflite=tflite,
        projection=projection,
        raw_shape=raw_shape,
    )


def _projection(run_dir: Path, norm: dict):
    """The PCA / ZCA projection and raw example shape a run recorded, or (None, None)."""
    if norm.get("projection") is None:
        return None, None
    from kzoo.data.normalize import decode_matrix

    try:
        return decode_matrix(norm["projection"]), tuple(int(d) for d in norm["raw_shape"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"{str(run_dir / 'normalization.json')!r} records a {norm.get('method')!r} "
            f"projection that cannot be read: {err}"
        ) from err


def _builder_kwargs(config: dict, norm: dict) -> dict:
    """The arguments `kzoo.create_model(config["model"], **kwargs)` needs to rebuild the run's model.

    Training builds it with the dataset's `classes` and `input_shape` (from normalization.json),
    overridden by the config's `model_kwargs`, the same merge `kzoo.training.train` does.
    """
    data = {"classes": norm.get("num_classes"), "input_shape": norm.get("input_shape")}
    return {**{k: v for k, v in data.items() if v is not None}, **config.get("model_kwargs", {})}


# A run's JSON files are small; kzoo reads them with bounded size and depth, NaN refused.
MAX_RUN_JSON_BYTES = 16 << 20
# metrics.json holds measurements (numbers) and a few labels (model, dataset, fingerprint...); a
# key named like a measurement must hold a number.
_REQUIRED_METRICS = ("test_accuracy",)
_NUMERIC_PREFIXES = ("test_", "final_", "val_", "epochs_")
_NUMERIC_SUFFIXES = ("_accuracy", "_loss", "_entropy", "_seconds", "_rate", "_size", "_params")
_NUMERIC_KEYS = ("replicas",)


class RunFileError(UserError):
    """A file of the run directory is not what kzoo.training writes; names the file and field."""


def refuse_linked_run_files(run_dir) -> None:
    """Raise RunFileError naming the first of a run's files (`RUN_FILES`) that is a symbolic link:
    kzoo reads only a run directory's own files (the run directory itself may be a link)."""
    for name in RUN_FILES:
        if os.path.islink(Path(run_dir) / name):
            raise RunFileError(
                f"{str(Path(run_dir) / name)!r} is a symbolic link; kzoo reads only the run "
                "directory's own files, never through a link"
            )


def _read(path: Path) -> dict:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        if os.path.islink(path):
            raise RunFileError(f"{str(path)!r} is a symbolic link; kzoo does not follow it") from None
        raise RunFileError(f"{str(path)!r} cannot be read ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunFileError(f"{str(path)!r} is not a regular file")
        if info.st_size > MAX_RUN_JSON_BYTES:
            raise RunFileError(
                f"{str(path)!r} is {info.st_size:,} bytes, more than the {MAX_RUN_JSON_BYTES:,} "
                "kzoo reads from a run's JSON file"
            )
        data = f.read(MAX_RUN_JSON_BYTES + 1)
    try:
        value = loads_bounded(data, max_bytes=MAX_RUN_JSON_BYTES, finite=True)
    except BoundedJSONError as err:
        raise RunFileError(f"{str(path)!r} {err}") from None
    if not isinstance(value, dict):
        raise RunFileError(f"{str(path)!r} must hold a JSON object; received {_short(value)}")
    return value


def _field(data: dict, key: str, kind, path: Path):
    if data.get(key) is None:
        raise RunFileError(f"{str(path)!r}: `{key}` is missing; not a file kzoo.training wrote")
    return _optional(data, key, kind, path)


def _optional(data: dict, key: str, kind, path: Path):
    value = data.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise RunFileError(f"{str(path)!r}: `{key}` must be {names}; received {_short(value)}")
    return value


def _check_normalization(norm: dict, path: Path) -> dict:
    """The fields of normalization.json the export uses, each of the type training writes; the
    ones that change what the served model computes are required (a default would be silently
    wrong)."""
    _field(norm, "raw_dtype", str, path)
    _optional(norm, "dataset", str, path)
    _optional(norm, "num_classes", int, path)
    names = _field(norm, "class_names", list, path)
    if names is not None and not all(isinstance(n, str) for n in names):
        raise RunFileError(f"{str(path)!r}: `class_names` must be a list of strings; received {_short(names)}")
    for key in ("input_shape", "raw_shape"):
        shape = _optional(norm, key, list, path)
        if shape is not None and not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise RunFileError(f"{str(path)!r}: `{key}` must be positive integers; received {_short(shape)}")
    value_range = _optional(norm, "raw_range", list, path)
    if value_range is not None and not (
        len(value_range) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value_range)
        and value_range[0] <= value_range[1]
    ):
        raise RunFileError(
            f"{str(path)!r}: `raw_range` must be [low, high] numbers; received {_short(value_range)}"
        )
    for key in ("mean", "std"):
        value = _field(norm, key, (int, float, list), path)
        flat = value if isinstance(value, list) else [value]
        if not flat or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat
        ):
            raise RunFileError(f"{str(path)!r}: `{key}` must be numbers; received {_short(value)}")
    return norm


def _check_metrics(metrics: dict, path: Path) -> dict:
    """metrics.json: the test accuracy and every measurement a finite number (NaN was refused when
    parsing); labels may be text; nothing is a list or an object."""
    for key in _REQUIRED_METRICS:
        _field(metrics, key, (int, float), path)
    for key, value in metrics.items():
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        measurement = (key.startswith(_NUMERIC_PREFIXES) or key.endswith(_NUMERIC_SUFFIXES)
                       or key in _NUMERIC_KEYS)
        if measurement and not number:
            raise RunFileError(f"{str(path)!r}: `{key}` must be a number; received {_short(value)}")
        if not (number or isinstance(value, (str, bool))):
            raise RunFileError(
                f"{str(path)!r}: `{key}` must be a number or a label; received {_short(value)}"
            )
    return metrics


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
