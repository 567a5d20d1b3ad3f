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
    """The command line of a lab script: `--out`, `--seed`, `--smoke`, `--debug`."""
    parser = LessonParser(prog=f"lab {lesson}", description=description)
    parser.add_argument("--out", default=None,
                        help=f"output directory (default {LAB_DIR}; {SMOKE_DIR} with --smoke)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a tiny configuration (seconds); results go to {SMOKE_DIR}")
    add_debug_flag(parser)
    return parser


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



def write_results(out_dir, lesson: str, numbers: dict, figure, *, smoke: bool = False) -> dict:
    """Write `<lesson>.json` and `<lesson>.png` atomically; return `numbers` with the two paths.

    The JSON also records whether the run was a smoke run, so a report never mistakes a smoke
    result for a real one.
    """
    import io

    out = Path(out_dir)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    png, js = out / f"{lesson}.png", out / f"{lesson}.json"
    result = dict(numbers, lesson=lesson, figure=str(png), smoke=bool(smoke))
    atomic_write_bytes(png, buf.getvalue())
    atomic_write_bytes(js, json.dumps(result, indent=2, default=float).encode())
    return result
