"""What every lab lesson shares: the command line, seeding and atomic result files."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import matplotlib

from kzoo.utils.files import atomic_write_bytes

matplotlib.use("Agg")


def lesson_parser(lesson: str, description: str) -> argparse.ArgumentParser:
    """The command line of a lab script: `--out`, `--seed`, `--smoke`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=os.path.join("runs", "lab"), help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--smoke", action="store_true", help="a tiny configuration (seconds)")
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



def write_results(out_dir, lesson: str, numbers: dict, figure) -> dict:
    """Write `<lesson>.json` and `<lesson>.png` atomically; return `numbers` with the two paths."""
    import io

    out = Path(out_dir)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    png, js = out / f"{lesson}.png", out / f"{lesson}.json"
    result = dict(numbers, lesson=lesson, figure=str(png))
    atomic_write_bytes(png, buf.getvalue())
    atomic_write_bytes(js, json.dumps(result, indent=2, default=float).encode())
    return result
