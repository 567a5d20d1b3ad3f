"""Export a finished training run directory (see `kzoo.training.rundir` for its layout)."""

from __future__ import annotations

import json
from pathlib import Path

from kzoo.export.saved_model import export_saved_model
from kzoo.models.keras_files import load_keras

RUN_FILES = ("config.json", "normalization.json", "model.keras", "metrics.json")


def export_run(
    run_dir, name, *, root="saved_models", version=None, force=False, probe=None, tflite=False
) -> Path:
    """Export the final model of a finished run with the run's own normalisation and metrics.

    Reads `model.keras` (scanned, then loaded with safe_mode=True), `normalization.json` (mean, std,
    raw dtype, class names, input shape and classes of the training split; for a PCA / ZCA run the
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
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"run_dir={str(run_dir)!r} is not a finished kzoo run: missing {', '.join(missing)} "
            "(metrics.json appears when training has finished)."
        )
    config = _read(run_dir / "config.json").get("config", {})
    norm = _read(run_dir / "normalization.json")
    metrics = _read(run_dir / "metrics.json")
    model = load_keras(run_dir / "model.keras", compile=False)
    projection, raw_shape = _projection(run_dir, norm)
    return export_saved_model(
        model,
        name,
        root=root,
        version=version,
        force=force,
        mean=norm.get("mean"),
        std=norm.get("std"),
        raw_dtype=norm.get("raw_dtype", "float32"),
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


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r} is not valid JSON ({err}).") from err
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} must hold a JSON object.")
    return data
