"""The run directory: one config per directory, atomic file writes.

Layout of a run directory:
    config.json          the config and its fingerprint (written first)
    normalization.json   data mean/std, input shape, class names (for the serving signature)
    checkpoint/          weights + optimiser state + epoch after every epoch (resume point)
    best.weights.h5      best weights so far (early stopping only)
    logs/                TensorBoard (train/, validation/, diagnostics/)
    history.csv|json     one row per finished epoch
    diagnostics.json     per-layer statistics (opt-in)
    curves.png           loss / accuracy curves
    model.keras          the final model
    metrics.json         final test metrics (written last: its presence marks a finished run)
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kzoo.utils.files import atomic_write_json, read_json

CONFIG = "config.json"
METRICS = "metrics.json"


def check_run_dir(config, replicas: int = 1) -> str:
    """Decide what to do with `config.run_dir` without writing anything.

    `replicas` is the number of replicas training will use: a run whose global batch depends on it
    (`config.per_replica_batch`) resumes only with as many replicas as it started with.

    Returns "new" (absent or empty), "resume" (same config), "finished" (same config, run complete)
    or "overwrite" (a different config with `config.overwrite`: kzoo's files will be replaced).
    The same config always resumes, `overwrite` or not, so rerunning a command after a crash never
    throws finished epochs away; delete the directory to start that run afresh. Raises ValueError
    for a directory made by a different config (unless `config.overwrite`) and for a non-empty
    directory that is not a run directory (always).
    """
    run_dir = Path(config.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(
            f"`run_dir` must be a directory; received run_dir={str(run_dir)!r} (a file)."
        )
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return "new"
    saved = read_json(run_dir / CONFIG)
    if saved is None:
        raise ValueError(
            f"run_dir={str(run_dir)!r} is not empty and holds no {CONFIG}: it is not a kzoo run "
            "directory, so nothing will be written there. Choose another run_dir."
        )
    if saved.get("fingerprint") != config.fingerprint():
        if config.overwrite:
            return "overwrite"
        diffs = config.differences(saved.get("config", {}))
        shown = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in sorted(diffs.items()))
        raise ValueError(
            f"run_dir={str(run_dir)!r} holds a run made by a different config ({shown or 'changed'}). "
            "Use another run_dir, or overwrite=True (--overwrite) to replace that run."
        )
    started = saved.get("replicas", 1)
    if config.per_replica_batch and started != replicas:
        raise ValueError(
            f"run_dir={str(run_dir)!r} was started with {started} replica(s) and "
            f"per_replica_batch=True (global batch {config.batch_size * started}); resuming it "
            f"with {replicas} would change the global batch. Resume with {started} replica(s), "
            "or use another run_dir."
        )
    return "finished" if (run_dir / METRICS).exists() else "resume"


# What a training run writes into its directory; "overwrite" removes these and nothing else.
RUN_ENTRIES = (
    CONFIG, METRICS, "history.json", "history.csv", "normalization.json", "curves.png",
    "model.keras", "best.weights.h5", "diagnostics.json", "checkpoint", "logs",
)


def _remove_run_files(run_dir: Path) -> None:
    """Delete kzoo's entries (and its leftover hidden temporary files); keep everything else."""
    for entry in run_dir.iterdir():
        leftover_tmp = entry.name.startswith(".") and (
            entry.name.endswith(".tmp") or entry.name.startswith(".tmp-")
        )
        if entry.name not in RUN_ENTRIES and not leftover_tmp:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def prepare_run_dir(config, state: str, replicas: int = 1) -> Path:
    """Create (or, for "overwrite", empty) the run directory and write config.json."""
    run_dir = Path(config.run_dir)
    if state == "overwrite":
        _remove_run_files(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if state in ("new", "overwrite"):
        atomic_write_json(
            run_dir / CONFIG,
            {"fingerprint": config.fingerprint(), "config": config.to_dict(), "replicas": replicas},
        )
    return run_dir

