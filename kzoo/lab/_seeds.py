"""A lesson over seeds: each seed's run, the claim as "k of n seeds", every headline number as
mean +- spread, and one figure showing the spread.

A lesson module provides `LESSON`, `CLAIM` (the sentence its experiment tests), `PAPER` (where the
claim comes from), `SEEDS` (the seeds its report runs: at least 3, 5 where cheap), `run(out_dir, *,
seed, smoke, **options)` (one seed; returns the numbers with `claim_holds` and `conclusion`) and
`headline(result)` (the numbers the claim rests on, by readable name). It may provide
`figure_over_seeds(results)`, a figure drawing every seed (bands or points); without one, the
first seed's figure is shown beside a generic figure of the headline numbers' points.

Each seed's own files go to `<out>/seeds/<lesson>/seed<k>/`; `<out>/<lesson>.json` holds the
aggregate that the report reads.

Seeds run side by side, one process per CPU core: the lab's networks are small, so a TensorFlow
process spends its time in per-op overhead on one core rather than in arithmetic spread over all of
them, and two seeds at once take little longer than one.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import os
import signal
import threading
import time
import types
from pathlib import Path

import numpy as np

from kzoo.lab._common import save_figure
from kzoo.utils.files import atomic_write_bytes, atomic_write_json


def spread(values) -> dict:
    """Mean, sample standard deviation, min and max of finite `values` (and how many were not)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    stats = {"values": [None if v is None else float(v) for v in values], "n": len(finite),
             "not_finite": len(values) - len(finite)}
    if finite:
        stats.update(mean=float(np.mean(finite)), min=min(finite), max=max(finite),
                     sd=float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0)
    return stats


def format_spread(stats: dict) -> str:
    """`mean +- sd (min-max)` with three significant digits, or `n/a`."""
    if not stats.get("n"):
        return "n/a"
    text = f"{_g(stats['mean'])} ± {_g(stats['sd'])}"
    if stats["n"] > 1:
        text += f" ({_g(stats['min'])}–{_g(stats['max'])})"
    if stats["not_finite"]:
        text += f", {stats['not_finite']} not finite"
    return text


def _g(value: float) -> str:
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def verdict(k: int, n: int, smoke: bool) -> str:
    """The verdict the report prints: smoke runs get none, whatever their numbers."""
    if smoke:
        return "smoke run, no verdict"
    if k == n:
        return f"holds in {k} of {n} seeds"
    if k == 0:
        return f"does NOT hold (0 of {n} seeds)"
    return f"holds in only {k} of {n} seeds"


def lesson_config(module, result: dict, options: dict) -> dict:
    """The configuration a run used: each `run` parameter's resolved value (as the result records
    it), else the value passed, else its default."""
    config = {}
    for name, param in inspect.signature(module.run).parameters.items():
        if name in ("out_dir", "seed", "smoke"):
            continue
        value = result.get(name, options.get(name, param.default))
        config[name] = list(value) if isinstance(value, tuple) else value
    return config


def check_seeds(seeds) -> tuple[int, ...]:
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct non-negative integers; received {seeds!r}.")
    return seeds


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_workers(workers, module, n_seeds: int) -> int:
    """Processes to run seeds in: `workers`, or by default one per usable core (at most one per
    seed); 1 for a lesson that is not an importable module (it cannot be re-imported elsewhere)."""
    if workers is None:
        importable = isinstance(module, types.ModuleType) and module.__name__ != "__main__"
        return min(usable_cores(), n_seeds) if importable else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"`workers` must be a positive integer; received {workers!r}.")
    return min(workers, n_seeds)


def run_over_seeds(module, out_dir, *, seeds=None, smoke=False, workers=None,
                   **options) -> dict:
    """Run `module`'s lesson once per seed; write `<lesson>.json`, `<lesson>.png` and
    `<lesson>_seeds.png` into `out_dir`; return the aggregate.

    Args:
        module: a lesson module (see this module's docstring).
        out_dir: output directory.
        seeds: seeds to run (default the lesson's `SEEDS`; one seed with `smoke`).
        smoke: the lesson's seconds-long configuration; the aggregate carries no verdict.
        workers: processes running seeds side by side (default one per usable CPU core, at most
            one per seed); 1 runs every seed in this process.
        **options: passed to the lesson's `run` for every seed.

    Returns:
        `lesson`, `claim`, `paper`, `seeds`, `k` (seeds whose run found the claim), `n`,
        `claim_holds` (all seeds and not smoke), `verdict`, `headline` ({name: spread}),
        `per_seed` (seed, seconds, claim_holds, headline, conclusion), `conclusion`, `config`,
        `seconds`, `smoke` and `figures` (paths).

    Example:
        >>> from kzoo.lab import maxout
        >>> result = run_over_seeds(maxout, "runs/lab")
        >>> result["verdict"]
        'holds in 5 of 5 seeds'
    """
    seeds = check_seeds((0,) if smoke else module.SEEDS) if seeds is None else check_seeds(seeds)
    workers = check_workers(workers, module, len(seeds))
    out = Path(out_dir)
    lesson = module.LESSON
    per_seed = []
    start = time.perf_counter()
    runs = _run_seeds(module, out, seeds, smoke, options, workers)
    results = [result for result, _ in runs]
    for seed, (result, seed_seconds) in zip(seeds, runs, strict=True):
        per_seed.append({"seed": seed, "seconds": seed_seconds,
                         "claim_holds": bool(result["claim_holds"]),
                         "headline": {k: _number(v) for k, v in module.headline(result).items()},
                         "conclusion": result["conclusion"]})
    seconds = time.perf_counter() - start
    k, n = sum(row["claim_holds"] for row in per_seed), len(per_seed)
    names = list(per_seed[0]["headline"])
    headline = {name: spread([row["headline"].get(name) for row in per_seed]) for name in names}
    figures = _figures(module, out, results, per_seed, headline, smoke)
    aggregate = {
        "lesson": lesson, "claim": module.CLAIM, "paper": module.PAPER, "seeds": list(seeds),
        "k": k, "n": n, "claim_holds": bool(k == n and not smoke), "verdict": verdict(k, n, smoke),
        "headline": headline, "per_seed": per_seed,
        "conclusion": _conclusion(module.CLAIM, k, n, headline, per_seed[0], smoke),
        "config": lesson_config(module, results[0], options), "seconds": seconds,
        "smoke": bool(smoke), "figures": figures,
    }
    atomic_write_json(out / f"{lesson}.json", aggregate)
    return aggregate


def _one_seed(module, out: Path, seed: int, smoke: bool, options: dict):
    if isinstance(module, str):
        module = importlib.import_module(module)
    start = time.perf_counter()
    result = module.run(out / "seeds" / module.LESSON / f"seed{seed}", seed=seed, smoke=smoke,
                        **options)
    return result, time.perf_counter() - start


def _quiet_child(threads: int) -> None:
    # Ctrl-C reaches the whole process group: the parent alone answers it (and ends the children).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import tensorflow as tf

    # Side-by-side processes share the cores instead of each spinning a pool as wide as the machine.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


@contextlib.contextmanager
def _children_ignore_ctrl_c():
    """Processes started in the block ignore SIGINT from their first instruction (an ignored signal
    stays ignored across exec, and Python keeps it so): a Ctrl-C while a worker still imports
    TensorFlow must not print its traceback. The parent answers Ctrl-C again after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_seeds(module, out: Path, seeds, smoke: bool, options: dict, workers: int):
    """[(result, seconds)] in the order of `seeds`; in `workers` fresh processes when above 1."""
    if workers == 1:
        return [_one_seed(module, out, seed, smoke, options) for seed in seeds]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, usable_cores() // workers)
    # "spawn": a fresh interpreter per worker; forking a process that already runs TensorFlow's
    # thread pools is unsafe. An executor, not multiprocessing.Pool: a worker that dies (killed, out
    # of memory) breaks it with an error, where a Pool would wait for its result forever.
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_quiet_child, initargs=(threads,))
    try:
        with _children_ignore_ctrl_c():  # the workers start inside submit()
            jobs = [executor.submit(_one_seed, module.__name__, out, seed, smoke, options)
                    for seed in seeds]
        return [job.result() for job in jobs]
    except BaseException:
        # Ctrl-C or a failed seed: stop the seeds still running (the executor has no public way
        # to end a running task; its processes are listed in `_processes`).
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.terminate()
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _number(value):
    return None if value is None else float(value)


def _conclusion(claim, k, n, headline, first, smoke) -> str:
    numbers = "; ".join(f"{name}: {format_spread(stats)}" for name, stats in headline.items())
    head = "Smoke run (not evidence)" if smoke else f"{claim} Holds in {k} of {n} seeds"
    return f"{head}. Over seeds, {numbers}. Seed {first['seed']}: {first['conclusion']}"


def _figures(module, out: Path, results, per_seed, headline, smoke) -> list[str]:
    lesson = module.LESSON
    main = out / f"{lesson}.png"
    draw = getattr(module, "figure_over_seeds", None)
    if draw is not None:
        save_figure(draw(results), main)
    else:  # the first seed's own figure stands for the lesson; the spread figure shows the rest
        atomic_write_bytes(main, Path(results[0]["figure"]).read_bytes())
    points = out / f"{lesson}_seeds.png"
    save_figure(spread_figure(lesson, per_seed, headline, smoke), points)
    return [str(main), str(points)]


def spread_figure(lesson, per_seed, headline, smoke):
    """One small panel per headline number: each seed as a point (coloured by whether the claim held
    on it), the mean as a dashed line."""
    import matplotlib.pyplot as plt

    names = list(headline)
    cols = min(4, max(1, len(names)))
    rows = math.ceil(len(names) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes.flat, names, strict=False):
        shown = [(row["seed"], row["headline"].get(name), row["claim_holds"]) for row in per_seed]
        shown = [(s, v, ok) for s, v, ok in shown if v is not None and math.isfinite(v)]
        if shown:
            for i, (_, v, ok) in enumerate(shown):
                ax.plot([i], [v], "o", color="tab:green" if ok else "tab:red")
            ax.axhline(headline[name]["mean"], color="0.3", lw=1, ls="--")
            ax.set_xticks(range(len(shown)), [str(s) for s, _, _ in shown])
        ax.set_title(_wrap(name), fontsize=8)
        ax.set_xlabel("seed", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    k = sum(row["claim_holds"] for row in per_seed)
    status = "smoke run, no verdict" if smoke else f"claim holds in {k} of {len(per_seed)} seeds"
    fig.suptitle(f"{lesson}: every seed's numbers (green: the claim holds on that seed, red: it "
                 f"does not; dashed: mean) -- {status}", fontsize=9)
    return fig


def _wrap(text, width=38):
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
