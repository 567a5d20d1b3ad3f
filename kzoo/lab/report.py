"""The lab report: run (or only collect) every lesson and write one Markdown page of figures.

Lessons are discovered, not listed: every module of `kzoo.lab` (except private ones and this one)
that defines `run` is a lesson. Each lesson leaves `<lesson>.json` and `<lesson>.png` in the output
directory; the page shows each figure with the one-line conclusion read from its JSON, and lists the
lessons that have no results (not run, or failed) instead of stopping at them.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
import traceback
from pathlib import Path

import kzoo.lab
from kzoo.utils.files import atomic_write_bytes

# The lecture's order; lessons not named here follow alphabetically.
ORDER = (
    "vanishing_gradients", "initialization", "activations", "batch_norm", "selu",
    "highway", "residual", "optimizers", "regularization", "maxout", "architectures",
    "gradient_checking", "whitening", "transfer", "ensembles",
)


def discover_lessons() -> list[str]:
    """Names of the lesson modules in `kzoo.lab` (those defining `run`), in the lecture's order."""
    names = []
    for info in pkgutil.iter_modules(kzoo.lab.__path__):
        if info.name.startswith("_") or info.name == "report":
            continue
        module = importlib.import_module(f"kzoo.lab.{info.name}")
        if callable(getattr(module, "run", None)):
            names.append(info.name)
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))


def _read(out: Path, lesson: str):
    path = out / f"{lesson}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_lessons(out_dir, lessons, *, seed=0, smoke=False) -> dict[str, dict]:
    """Run each lesson; return {lesson: {"seconds": ..., "error": message or None}}."""
    status = {}
    for lesson in lessons:
        start = time.perf_counter()
        error = None
        try:
            module = importlib.import_module(f"kzoo.lab.{lesson}")
            module.run(out_dir, seed=seed, smoke=smoke)
        except Exception as err:  # one broken lesson must not hide the others
            error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        status[lesson] = {"seconds": time.perf_counter() - start, "error": error}
    return status


def write_report(out_dir, lessons=None, *, readme=None, status=None) -> Path:
    """Write the Markdown page for the results found in `out_dir`; return its path.

    Args:
        out_dir: directory holding the lessons' `<lesson>.json` / `<lesson>.png`.
        lessons: lesson names (default: all discovered).
        readme: output path (default `<out_dir>/README.md`); figure links are relative to it.
        status: optional run status from `run_lessons` (times, errors) to show next to each lesson.

    Example:
        >>> write_report("runs/lab")   # runs/lab/README.md
    """
    out = Path(out_dir)
    lessons = list(lessons or discover_lessons())
    readme = Path(readme) if readme else out / "README.md"
    status = status or {}
    lines = ["# The training-tips lab", "",
             "Each lesson turns a claim of the lecture notes into a seeded experiment on offline "
             "data. Conclusions below are computed from each lesson's own numbers; results of "
             "smoke runs (`--smoke`, seconds-long settings) carry no verdict.", ""]
    rows, missing = [], []
    for i, lesson in enumerate(lessons, start=1):
        data = _read(out, lesson)
        if data is None:
            missing.append(lesson)
            continue
        holds = data.get("claim_holds")
        verdict = {True: "claim holds", False: "claim does NOT hold"}.get(holds, "no verdict")
        if data.get("smoke"):  # seconds-long settings: they check the code, not the claim
            verdict = "smoke run, no verdict"
        rows.append(f"| {i} | [{lesson}](#{lesson.replace('_', '-')}) | {verdict} |")
        lines += [f"## {lesson}", "", f"**{verdict}** -- {data.get('conclusion', '(no conclusion)')}",
                  ""]
        seconds = status.get(lesson, {}).get("seconds")
        if seconds is not None:
            lines += [f"Run time: {seconds:.0f} s.", ""]
        png = out / f"{lesson}.png"
        if png.exists():
            rel = Path(_relative(png, readme.parent))
            lines += [f"![{lesson}]({rel.as_posix()})", ""]
    summary = ["| # | lesson | result |", "|---|---|---|", *rows, ""] if rows else []
    not_run = []
    if missing:
        not_run = ["## Not run", ""]
        for lesson in missing:
            error = status.get(lesson, {}).get("error")
            not_run.append(f"- {lesson}" + (f" (failed: {error})" if error else ""))
        not_run.append("")
    text = "\n".join(lines[:4] + summary + lines[4:] + not_run)
    atomic_write_bytes(readme, text.encode())
    return readme


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), start.resolve())


def run(out_dir, *, seed=0, smoke=False, collect=False, lessons=None, readme=None) -> dict:
    """Run every lesson (or, with `collect=True`, only gather their results) and write the page.

    Returns {"readme": path, "lessons": {lesson: {"seconds", "error", "claim_holds",
    "conclusion"}}, "missing": [lessons without results]}.
    """
    lessons = list(lessons or discover_lessons())
    status = {} if collect else run_lessons(out_dir, lessons, seed=seed, smoke=smoke)
    path = write_report(out_dir, lessons, readme=readme, status=status)
    found = {}
    for lesson in lessons:
        data = _read(Path(out_dir), lesson)
        found[lesson] = dict(status.get(lesson, {}),
                             claim_holds=None if data is None else data.get("claim_holds"),
                             conclusion=None if data is None else data.get("conclusion"))
    missing = [name for name in lessons if found[name]["conclusion"] is None]
    return {"readme": str(path), "lessons": found, "missing": missing}
