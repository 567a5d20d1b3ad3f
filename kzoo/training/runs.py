"""`kzoo runs`: the run directories under a folder, with what they trained and how far they got."""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path

from kzoo.utils.files import read_json

CONFIG, METRICS = "config.json", "metrics.json"
_SKIP = {"checkpoint", "logs", "evaluation"}


def find_runs(root="runs", pattern: str | None = None) -> list[dict]:
    """One row per run directory under `root` (a folder holding kzoo's `config.json`), newest first.

    Links are not followed. A row: `run_dir`, `model`, `dataset`, `epochs` ("done/planned"),
    `test_accuracy` (finished runs), `status` ("finished", "in progress", "smoke"), `updated`.

    Args:
        root: the folder to search (recursively).
        pattern: an fnmatch pattern on the run directory's path (`"*resnet*"`).

    Example:
        >>> [r["run_dir"] for r in find_runs("runs", "*digits*")]
    """
    root = Path(root)
    rows = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
        if CONFIG not in filenames:
            continue
        run_dir = Path(dirpath)
        dirnames[:] = []  # a run directory holds no other runs
        if pattern and not fnmatch.fnmatch(str(run_dir), pattern):
            continue
        row = _describe(run_dir)
        if row is not None:
            rows.append(row)
    return sorted(rows, key=lambda r: r["updated"], reverse=True)


def _describe(run_dir: Path) -> dict | None:
    try:
        saved = read_json(run_dir / CONFIG, default=None)
        metrics = read_json(run_dir / METRICS, default=None)
        progress = read_json(run_dir / "checkpoint" / "training_metadata.json", default={})
    except ValueError:
        return None  # not a kzoo run directory (or a damaged one): kzoo train says which
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        return None
    config = saved["config"]
    finished = isinstance(metrics, dict)
    done = metrics.get("epochs_run") if finished else (progress or {}).get("epoch", 0)
    newest = max((run_dir / n).stat().st_mtime for n in (CONFIG, METRICS)
                 if (run_dir / n).is_file())
    smoke = run_dir.name.startswith("smoke-") or config.get("max_steps_per_epoch") is not None
    return {
        "run_dir": str(run_dir),
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "epochs": f"{done}/{config.get('epochs')}",
        "test_accuracy": metrics.get("test_accuracy") if finished else None,
        "status": ("finished" if finished else "in progress") + (" (smoke)" if smoke else ""),
        "updated": time.strftime("%Y-%m-%d %H:%M", time.localtime(newest)),
    }


def add_parser(sub) -> None:
    """Add `kzoo runs` to the `kzoo` command's subparsers."""
    p = sub.add_parser("runs", help="list run directories: model, dataset, epochs, test accuracy",
                       description="List the kzoo run directories under --root (newest first).")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern on the path, e.g. '*resnet*'")
    p.add_argument("--root", default="runs", help="folder to search [runs]")
    p.set_defaults(func=_cmd_runs)


def _cmd_runs(args) -> int:
    from kzoo.training.summary import format_table
    from kzoo.utils.errors import UserError

    if not Path(args.root).is_dir():
        raise UserError(f"--root {args.root!r} is not a directory (runs are written to runs/ by default)")
    rows = find_runs(args.root, args.pattern)
    if not rows:
        print(f"no run directory under {args.root!r}" + (f" matches {args.pattern!r}" if args.pattern else ""))
        return 1
    print(format_table(rows))
    return 0
