"""`kzoo bench --curves`: how training speed and peak memory grow with batch size and depth.

Every point (model, batch) runs in a fresh pair of worker processes, kzoo's default path and
PyTorch in the matching precision, alternating `repeats` rounds as the main bench does; a fresh
process per point is what makes each point's peak resident memory its own (an allocator keeps
what an earlier, larger batch took). Memory per image is the slope of the peak between
neighbouring batch sizes, so the runtime's fixed baseline cancels.
"""

from __future__ import annotations

from pathlib import Path

from kzoo.bench.config import CURVE_MODELS
from kzoo.bench.runner import steps_for
from kzoo.bench.stats import summarize
from kzoo.bench.worker_client import Worker, WorkerError

# Layers of each depth-curve model (the number in its name).
DEPTHS = {m: int(m.removeprefix("resnet")) for m in CURVE_MODELS}
BATCH_CURVE_MODEL = CURVE_MODELS[0]


def curve_points(config) -> list[tuple[str, int]]:
    """(model, batch) pairs: ResNet-20 at every curve batch, then every depth at
    `config.curve_depth_batch`."""
    points = [(BATCH_CURVE_MODEL, b) for b in config.curve_batches]
    batch = config.curve_depth_batch
    points += [(d, batch) for d in config.curve_depths if (d, batch) not in points]
    return points


def run_curves(config, torch_available: bool, log=print) -> dict:
    """Measure every `curve_points` point; return the points and the memory-per-image slopes."""
    out = Path(config.out_dir) / "curves"
    out.mkdir(parents=True, exist_ok=True)
    points, failed = [], []
    todo = curve_points(config)
    for i, (model, batch) in enumerate(todo):
        log(f"curves: point {i + 1}/{len(todo)}: {model} at batch {batch}")
        try:
            point = _point(config, model, batch, torch_available, out)
        except WorkerError as err:  # e.g. out of memory: the other points still count
            reason = str(err).splitlines()[0]
            log(f"curves: {model} at batch {batch} failed: {reason}")
            failed.append({"model": model, "batch": batch, "error": reason})
            continue
        point["curves"] = [name for name, members in (
            ("batch", model == BATCH_CURVE_MODEL and batch in config.curve_batches),
            ("depth", model in config.curve_depths and batch == config.curve_depth_batch),
        ) if members]
        points.append(point)
    return {
        "batch_curve_model": BATCH_CURVE_MODEL,
        "depth_curve_batch": config.curve_depth_batch,
        "points": points,
        "failed": failed,
        "memory_per_image": memory_per_image(points),
        "memory_per_layer": memory_per_layer(points, config.curve_depth_batch),
    }


def on_curve(points, curve: str) -> list[dict]:
    """The points of the "batch" or "depth" curve (results without the field: by model/batch)."""
    return [p for p in points if curve in p.get("curves", (curve,))]


def _point(config, model, batch, torch_available, out) -> dict:
    workers = {}
    try:
        workers["kzoo"] = Worker("kzoo", out / f"kzoo-{model}-{batch}.log")
        if torch_available:
            workers["torch"] = Worker("torch", out / f"torch-{model}-{batch}.log")
        setup = {"kzoo": workers["kzoo"].call(
            "setup", name=model, batch=batch, steps=config.steps, warmup=config.warmup,
            image_size=config.image_size, seed=config.seed)}
        # PyTorch in kzoo's precision: like against like.
        variant = "bfloat16" if "bfloat16" in setup["kzoo"]["policy"] else "float32"
        variants = {"kzoo": None, "torch": variant}
        if "torch" in workers:
            setup["torch"] = workers["torch"].call(
                "setup", variant=variant, name=model, batch=batch, steps=config.steps,
                warmup=config.warmup, image_size=config.image_size, seed=config.seed)
        steps = steps_for(config, setup)
        rounds = {name: [] for name in workers}
        for r in range(config.repeats):
            order = list(workers) if r % 2 == 0 else list(workers)[::-1]
            for name in order:
                rounds[name].append(
                    workers[name].call("train", variant=variants[name], steps=steps))
    finally:
        for worker in workers.values():
            worker.close()
    point = {"model": model, "batch": batch, "steps": steps}
    for name, runs in rounds.items():
        point[name] = {
            "precision": setup[name]["policy"],
            "images_per_second": summarize([r["images_per_second"] for r in runs]),
            # The process's peak: setup (graph tracing, warm-up steps) and every round.
            "peak_memory_mb": max([setup[name]["peak_memory_mb"]]
                                  + [r["peak_memory_mb"] for r in runs]),
        }
    return point


def memory_per_image(points) -> list[dict]:
    """MiB per image between neighbouring batch sizes of the batch curve, per framework, and
    whether kzoo's exceeds PyTorch's there."""
    batch_points = [p for p in on_curve(points, "batch") if p["model"] == BATCH_CURVE_MODEL]
    return _slopes(batch_points, lambda p: p["batch"], "batch")


def memory_per_layer(points, batch: int) -> list[dict]:
    """MiB per layer between neighbouring depths of the depth curve (at `batch`), per framework,
    and whether kzoo's exceeds PyTorch's there."""
    depth_points = [p for p in on_curve(points, "depth") if p["batch"] == batch]
    return _slopes(depth_points, lambda p: DEPTHS[p["model"]], "depth")


def _slopes(points, x_of, axis: str) -> list[dict]:
    """`{"from_<axis>", "to_<axis>", "kzoo", "torch", "kzoo_exceeds_torch"}` between neighbours."""
    points = sorted(points, key=x_of)
    slopes = []
    for a, b in zip(points, points[1:], strict=False):
        row = {f"from_{axis}": x_of(a), f"to_{axis}": x_of(b)}
        for name in ("kzoo", "torch"):
            if name in a and name in b:
                row[name] = (b[name]["peak_memory_mb"] - a[name]["peak_memory_mb"]) / (
                    x_of(b) - x_of(a))
        if "torch" in row:
            row["kzoo_exceeds_torch"] = bool(row["kzoo"] > row["torch"])
        slopes.append(row)
    return slopes
