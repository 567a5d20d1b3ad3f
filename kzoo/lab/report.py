"""The lab report: run (or only collect) every lesson over its seeds and write one page.

Lessons are discovered, not listed: every module of `kzoo.lab` (except private ones and this one)
that defines `run` is a lesson. Each lesson runs over its seeds (`kzoo.lab._seeds`) and leaves
`<lesson>.json` with its claim, "k of n seeds", headline numbers as mean +- spread, configuration
and time. The report gathers them with the date, machine and library versions into `report.json`,
and renders it as `report.html` (self-contained, figures embedded) and `README.md`. Lessons without
results (not run, or failed) are listed instead of stopping the report.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
from pathlib import Path

import kzoo.lab
from kzoo.lab._environment import environment
from kzoo.lab._page import minutes, render_html, render_markdown
from kzoo.lab._seeds import format_spread, run_over_seeds
from kzoo.utils.errors import UserError
from kzoo.utils.files import atomic_write_bytes, atomic_write_json, read_json

# The lecture's order; lessons not named here follow alphabetically.
ORDER = (
    "vanishing_gradients", "initialization", "activations", "batch_norm", "selu",
    "highway", "residual", "optimizers", "regularization", "maxout", "architectures",
    "gradient_checking", "whitening", "transfer", "ensembles",
)
TITLE = "The training-tips lab"
INTRO = ("Each lesson turns a claim of the lecture notes into a seeded experiment on offline data, "
         "run over several seeds. A claim holds only when it holds for every seed; the numbers "
         "are each seed's own, shown as mean ± standard deviation (min–max). Smoke runs "
         "(--smoke, seconds-long settings) carry no verdict.")
REPORT_JSON, REPORT_HTML, REPORT_MD = "report.json", "report.html", "README.md"


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


def lesson_number(lesson: str) -> int:
    return ORDER.index(lesson) + 1 if lesson in ORDER else len(ORDER) + 1


def lesson_command(lesson: str) -> str:
    """The recipe that runs one lesson, as README shows it."""
    return f"python recipes/lab/{lesson_number(lesson):02d}_{lesson}.py"


def _read(out: Path, lesson: str):
    try:
        data = read_json(out / f"{lesson}.json", default=None)
    except UserError:  # a corrupt results file is a lesson without results, listed as such
        return None
    # Results written before lessons ran over seeds have no "k of n": not comparable, not shown.
    return data if isinstance(data, dict) and "per_seed" in data else None


def run_lessons(out_dir, lessons, *, seeds=None, smoke=False, workers=None,
                echo=print) -> dict[str, dict]:
    """Run each lesson over its seeds; return {lesson: {"seconds": ..., "error": message or None}}."""
    status = {}
    for i, lesson in enumerate(lessons, start=1):
        start = time.perf_counter()
        error = None
        echo(f"lesson {i} of {len(lessons)}: {lesson} ...")
        try:
            module = importlib.import_module(f"kzoo.lab.{lesson}")
            result = run_over_seeds(module, out_dir, seeds=seeds, smoke=smoke, workers=workers)
            echo(f"  {lesson}: {result['verdict']} ({time.perf_counter() - start:.0f} s)")
        except Exception as err:  # one broken lesson must not hide the others
            error = f"{type(err).__name__}: {err}"
            traceback.print_exc()
        status[lesson] = {"seconds": time.perf_counter() - start, "error": error}
    return status


def build_report(out_dir, lessons=None, *, status=None) -> dict:
    """The report's JSON: environment, every lesson's aggregate (figures relative to `out_dir`)."""
    out = Path(out_dir)
    lessons = list(lessons or discover_lessons())
    status = status or {}
    found, missing = [], []
    for lesson in lessons:
        data = _read(out, lesson)
        if data is None:
            missing.append({"lesson": lesson, "error": status.get(lesson, {}).get("error")})
            continue
        figures = [Path(f).name for f in data.get("figures", [])]
        found.append(dict(data, number=lesson_number(lesson), command=lesson_command(lesson),
                          figures=figures))
    return {
        "title": TITLE, "intro": INTRO, "environment": environment(),
        "smoke": any(lesson["smoke"] for lesson in found),
        "seconds": sum(lesson["seconds"] for lesson in found),
        "lessons": found, "missing": missing,
    }


def write_report(out_dir, lessons=None, *, status=None) -> dict:
    """Write `report.json`, `report.html` and `README.md` into `out_dir`; return the paths.

    Example:
        >>> write_report("runs/lab")["html"]
        'runs/lab/report.html'
    """
    out = Path(out_dir)
    report = build_report(out, lessons, status=status)
    paths = {"json": out / REPORT_JSON, "html": out / REPORT_HTML, "markdown": out / REPORT_MD}
    atomic_write_json(paths["json"], report)
    atomic_write_bytes(paths["html"], render_html(report, out).encode())
    atomic_write_bytes(paths["markdown"], render_markdown(report).encode())
    return {key: str(path) for key, path in paths.items()} | {"report": report}


def readme_table(report: dict) -> str:
    """README's lab table, generated from a report's JSON (a test keeps README equal to it)."""
    rows = ["| # | lesson | command | claim | seeds | numbers over seeds: mean ± sd (min–max) "
            "| time |", "|---|---|---|---|---|---|---|"]
    for lesson in report["lessons"]:
        numbers = "; ".join(f"{name}: {format_spread(stats)}"
                            for name, stats in lesson["headline"].items())
        rows.append(f"| {lesson['number']} | {lesson['lesson'].replace('_', ' ')} | "
                    f"`{lesson['command']}` | {lesson['claim']} | {lesson['verdict']} | "
                    f"{numbers.replace('|', '/')} | {minutes(lesson['seconds'])} |")
    return "\n".join(rows)


def run(out_dir, *, seeds=None, smoke=False, workers=None, collect=False, lessons=None,
        echo=print) -> dict:
    """Run every lesson (or, with `collect=True`, only gather their results) and write the page.

    Args:
        out_dir: output directory (lessons' files, report.json, report.html, README.md).
        seeds: seeds for every lesson (default each lesson's own; one seed with `smoke`).
        smoke: every lesson in its seconds-long configuration; the page gives no verdict.
        workers: processes running each lesson's seeds side by side (default one per CPU core).
        collect: no training, only gather the results already in `out_dir`.
        lessons: lesson names (default all discovered).
        echo: where progress lines go.

    Returns:
        {"json", "html", "markdown": paths, "report": the JSON, "status": per-lesson time/error}.
    """
    lessons = list(lessons or discover_lessons())
    status = {} if collect else run_lessons(out_dir, lessons, seeds=seeds, smoke=smoke,
                                            workers=workers, echo=echo)
    return dict(write_report(out_dir, lessons, status=status), status=status)
