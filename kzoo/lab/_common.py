"""What every lab lesson shares: the command line, seeding and atomic result files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

from kzoo.utils.cli import ArgumentParser, add_debug_flag
from kzoo.utils.files import atomic_write_bytes

matplotlib.use("Agg")


LAB_DIR = os.path.join("runs", "lab")
SMOKE_DIR = os.path.join(LAB_DIR, "smoke")  # smoke results never overwrite real ones


class LessonParser(ArgumentParser):
    """A lab script's command line: `--out` defaults to runs/lab, or runs/lab/smoke with --smoke."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if parsed.out is None:
            parsed.out = SMOKE_DIR if parsed.smoke else LAB_DIR
        return parsed


def lesson_parser(lesson: str, description: str) -> LessonParser:
    """The command line of a lab script: `--out`, `--seeds`, `--workers`, `--smoke`, `--debug`."""
    parser = LessonParser(prog=f"lab {lesson}", description=description)
    parser.add_argument("--out", default=None,
                        help=f"output directory (default {LAB_DIR}; {SMOKE_DIR} with --smoke)")
    parser.add_argument("--seeds", type=seed, nargs="+", default=None, metavar="SEED",
                        help="seeds to run (default: the lesson's own, at least 3; 0 with --smoke)")
    parser.add_argument("--workers", type=positive, default=None, metavar="N",
                        help="processes running seeds side by side (default: one per CPU core)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a tiny configuration (seconds); results go to {SMOKE_DIR}")
    add_debug_flag(parser)
    return parser


def main_entry(main, lesson: str) -> None:
    """Run a lab script's `main()` under kzoo's error contract (one line, exit 2) and exit."""
    import sys

    from kzoo.utils.cli import run

    sys.exit(run(f"lab {lesson}", lambda: main() and 0))


def positive(text: str) -> int:
    """A `--workers` value: a positive integer."""
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def seed(text: str) -> int:
    """A `--seeds` value: a non-negative integer (argparse names the flag and this type in errors)."""
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def flat_training_arrays(dataset: str, limit: int | None = None):
    """A dataset's training split as flat, per-feature standardised float32 rows and labels."""
    import kzoo.data

    a = kzoo.data.load_arrays(dataset)
    x = a["x_train"].reshape(len(a["x_train"]), -1).astype("float32")
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-7)
    y = a["y_train"]
    return (x[:limit], y[:limit]) if limit else (x, y)


def save_figure(figure, path) -> None:
    """Render a Matplotlib figure to PNG at `path` (atomically, cropped) and close it."""
    from kzoo.charts.png import save_figure as write_png

    write_png(figure, path)


def write_results(out_dir, lesson: str, numbers: dict, figure, *, smoke: bool = False) -> dict:
    """Write `<lesson>.json` and `<lesson>.png` atomically; return `numbers` with the two paths.

    The JSON also records whether the run was a smoke run, so a report never mistakes a smoke
    result for a real one.
    """
    out = Path(out_dir)
    png, js = out / f"{lesson}.png", out / f"{lesson}.json"
    result = dict(numbers, lesson=lesson, figure=str(png), smoke=bool(smoke))
    save_figure(figure, png)
    atomic_write_bytes(js, json.dumps(result, indent=2, default=float).encode())
    return result
