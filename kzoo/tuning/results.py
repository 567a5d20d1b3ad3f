"""The results of a search: a table (printed, JSON, CSV) and a figure of score against each
hyperparameter."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from kzoo.tuning.search import EPOCHS, SECONDS
from kzoo.utils.files import atomic_write_bytes, atomic_write_json, atomic_write_text

# Hyperband's bookkeeping entries ("tuner/epochs", ...) are not tuned values.
_INTERNAL = "tuner/"


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def trial_rows(tuner) -> dict:
    """The search as plain data: `{"objective", "direction", "hyperparameters", "best_trial", "trials"}`.

    Each trial is `{"trial", "status", "values", "score", "seconds", "epochs", "message"}`; a failed
    trial has `score` None and the last line of its error in `message`.
    """
    oracle = tuner.oracle
    objective = oracle.objective
    space = oracle.get_space().space
    names = [p.name for p in space]
    trials = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        metrics = trial.metrics
        seconds = metrics.get_last_value(SECONDS) if metrics.exists(SECONDS) else None
        epochs = metrics.get_last_value(EPOCHS) if metrics.exists(EPOCHS) else None
        message = (trial.message or "").strip().splitlines()
        trials.append(
            {
                "trial": trial_id,
                "status": trial.status,
                "values": {k: v for k, v in trial.hyperparameters.values.items()},
                "score": _finite(trial.score) if trial.status == "COMPLETED" else None,
                "seconds": _finite(seconds),
                "epochs": int(epochs) if _finite(epochs) is not None else None,
                "message": message[-1] if message else "",
            }
        )
    best = [t for t in oracle.get_best_trials(1) if t.status == "COMPLETED"]
    return {
        "objective": objective.name,
        "direction": objective.direction,
        "hyperparameters": names,
        # How each hyperparameter was searched: Fixed ones get no panel, log-sampled a log axis.
        "sampling": {p.name: _sampling(p) for p in space},
        "best_trial": best[0].trial_id if best else None,
        "trials": trials,
    }


def _sampling(hp) -> str:
    """"fixed", "choice", "log", "reverse_log" or "linear"."""
    kind = type(hp).__name__.lower()
    if kind in ("fixed", "choice", "boolean"):
        return "fixed" if kind == "fixed" else "choice"
    return getattr(hp, "sampling", None) or "linear"


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(results: dict) -> str:
    """A fixed-width text table: trial, hyperparameter values, score, seconds, status."""
    names = results["hyperparameters"]
    header = ["trial", *names, results["objective"], "seconds", "status"]
    rows = [
        [t["trial"], *(t["values"].get(n) for n in names), t["score"], t["seconds"], t["status"]]
        for t in results["trials"]
    ]
    cells = [header] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if results["best_trial"] is not None:
        lines.append(f"best trial: {results['best_trial']}")
    return "\n".join(lines)


def write_results(results: dict, out_dir, title: str | None = None) -> dict:
    """Write `results.json`, `results.csv` and `results.png` into `out_dir`; return their paths.

    Each file is replaced atomically (unique temporary file, fsync, rename), so a reader -- or a
    chief rewriting them while a worker looks -- sees the old file or the new one, never a torn one.
    """
    out = Path(out_dir)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "png": out / "results.png"}
    atomic_write_json(paths["json"], results)
    names = results["hyperparameters"]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["trial", *names, results["objective"], "seconds", "epochs", "status", "message"])
    for t in results["trials"]:
        writer.writerow(
            [t["trial"], *(t["values"].get(n, "") for n in names)]
            + ["" if t[k] is None else t[k] for k in ("score", "seconds", "epochs")]
            + [t["status"], t["message"]]
        )
    atomic_write_text(paths["csv"], text.getvalue())
    plot_results(results, paths["png"], title=title)
    return {k: str(v) for k, v in paths.items()}


def plot_results(results: dict, path, title: str | None = None) -> None:
    """One panel per searched hyperparameter (pinned ones get none): each completed trial's score
    against its value, on a log axis for log-sampled ones; the best trial is a star, failed trials
    an x on the axis floor. The title names `title` (model and dataset) and the best score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sampling = results.get("sampling", {})
    names = [
        n for n in results["hyperparameters"]
        if not n.startswith(_INTERNAL) and sampling.get(n) != "fixed"
    ] or ["trial"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    done = [t for t in results["trials"] if t["score"] is not None]
    failed = [t for t in results["trials"] if t["score"] is None and t["status"] != "RUNNING"]
    floor = min((t["score"] for t in done), default=0.0)
    for ax, name in zip(axes[0], names, strict=True):
        def value(t, name=name):
            return t["trial"] if name == "trial" else t["values"].get(name)

        shown = [t for t in done if value(t) is not None]
        xs = [value(t) for t in shown]
        categorical = any(isinstance(x, (str, bool)) for x in xs + [value(t) for t in failed])
        if categorical:
            levels = sorted({str(value(t)) for t in done + failed})
            pos = {level: i for i, level in enumerate(levels)}
            ax.set_xticks(range(len(levels)), levels)
            ax.set_xlim(-0.5, len(levels) - 0.5)

            def place(x, pos=pos):
                return pos[str(x)]
        else:
            def place(x):
                return x
        ax.scatter([place(x) for x in xs], [t["score"] for t in shown], color="tab:blue")
        best = [t for t in shown if t["trial"] == results["best_trial"]]
        if best:
            ax.scatter([place(value(best[0]))], [best[0]["score"]], s=160, marker="*",
                       color="tab:orange", zorder=3, label="best")
        bad = [value(t) for t in failed if value(t) is not None]
        if bad:
            ax.scatter([place(x) for x in bad], [floor] * len(bad), marker="x", color="tab:red",
                       label="failed")
        if best or bad:
            ax.legend(loc="best", fontsize="small")
        numeric = [] if categorical else xs + bad
        log = sampling.get(name) in ("log", "reverse_log") or (
            name not in sampling and numeric and min(numeric) > 0
            and max(numeric) / min(numeric) >= 100
        )
        if log and numeric and min(numeric) > 0:
            ax.set_xscale("log")
        elif numeric and all(isinstance(x, int) for x in numeric):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel(name)
        ax.set_ylabel(results["objective"])
        ax.grid(alpha=0.3)
    fig.suptitle(_title(results, title, len(done), len(results["trials"])), fontsize="medium")
    fig.tight_layout()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _title(results: dict, title: str | None, done: int, total: int) -> str:
    best = next((t for t in results["trials"] if t["trial"] == results["best_trial"]), None)
    head = f"{title}: " if title else ""
    score = f"best {results['objective']} {best['score']:.4g} (trial {best['trial']})" if best else (
        "no completed trial"
    )
    return f"{head}{score}, {done} of {total} trials completed"
