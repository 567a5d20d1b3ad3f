"""`run_bench(config)`: every configuration of every model, alternating round by round."""

from __future__ import annotations

import importlib.util
import statistics
import sys
import time
from pathlib import Path

from kzoo.bench.config import BenchConfig
from kzoo.bench.kernels import parse_verbose
from kzoo.bench.machine import machine_facts
from kzoo.bench.procinfo import load_average
from kzoo.bench.stats import percentiles, summarize
from kzoo.bench.worker_client import Worker

# (label, worker, variant, compute dtype for utilisation); None: from the resolved policy.
CONFIGS = (
    ("kzoo default", "kzoo", None, None),
    ("plain Keras", "keras", None, "float32"),
    ("PyTorch fp32", "torch", "float32", "float32"),
    ("PyTorch bf16 autocast", "torch", "bfloat16", "bfloat16"),
)
# `--ablations`: kzoo's default path with one setting changed, each in its own process (op
# determinism and the precision policy are process-wide), to see what each setting costs.
ABLATIONS = (
    ("kzoo, mixed_precision=float32", "kzoo-float32", None, None),
    ("kzoo, float32 + oneDNN bf16 math", "kzoo-float32-bf16-math", None, None),
    ("kzoo, deterministic=False", "kzoo-nondeterministic", None, None),
)
# Each ablation worker: a kzoo worker with these `TrainConfig` overrides and environment (oneDNN's
# fpmath mode lets float32 kernels round their inputs to bfloat16 inside, where the CPU's do).
ABLATION_WORKERS = {
    "kzoo-float32": ({"mixed_precision": "float32"}, None),
    "kzoo-float32-bf16-math": ({"mixed_precision": "float32"},
                               {"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"}),
    "kzoo-nondeterministic": ({"deterministic": False}, None),
}
TORCH_MISSING = (
    "PyTorch is not installed, so the PyTorch references are skipped; install them with "
    "`pip install 'kzoo[bench]'` (on CPU-only machines a CPU wheel of torch is enough)."
)
TARGETS = {
    "kzoo_vs_plain_keras": 1.5,
    "kzoo_vs_best_torch": 1.0,
    "savedmodel_vs_best_torch_eval": 1.0,
    # Batch-1 latency, PyTorch eager / kzoo's TFLite (> 1: kzoo answers one image faster).
    "tflite_latency_vs_best_torch_eval": 1.0,
}
# Serving only: the TFLite model kzoo's default path exported, in the kzoo worker; and the same
# SavedModel in a process with one TensorFlow thread per pool, as a latency-bound server runs it
# (at batch 1 the intra-op pool's hand-offs cost more than splitting a tiny convolution saves).
TFLITE = ("kzoo TFLite", "kzoo", "tflite", None)
ONE_THREAD = ("kzoo SavedModel, 1 thread", "kzoo-1-thread", None, None)
ONE_THREAD_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
# Training FLOPs per image: the forward pass (2 FLOPs per MAC) and a backward pass of about twice it.
TRAIN_FLOPS_PER_MAC = 6
SERVE_FLOPS_PER_MAC = 2


def run_bench(config: BenchConfig, *, log=print) -> dict:
    """Run the benchmark `config` describes and return its results (see `kzoo.bench.report`).

    Args:
        config: a `BenchConfig`.
        log: called with one line of progress at a time.

    Example:
        >>> results = run_bench(BenchConfig(models=("resnet20",), steps=10, repeats=3))
        >>> results["models"][0]["ratios"]["kzoo_vs_plain_keras"]["value"]
    """
    config.validate()
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frameworks = list(config.frameworks)
    notes = []
    if "torch" in frameworks and importlib.util.find_spec("torch") is None:
        print(TORCH_MISSING, file=sys.stderr)
        notes.append(TORCH_MISSING)
        frameworks.remove("torch")
    configs = [c for c in CONFIGS if c[1] in frameworks]
    if config.ablations:
        configs += list(ABLATIONS)
    started = time.time()
    results = {
        "format": "kzoo-bench",
        "format_version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "config": config.to_dict(),
        "machine": machine_facts(),
        "load_average": {"start": load_average()},
        "notes": notes,
        "torch_available": "torch" in frameworks,
        "targets": TARGETS,
    }
    workers = {
        w: Worker("kzoo" if w in ABLATION_WORKERS else w, out_dir / f"worker-{w}.log",
                  ABLATION_WORKERS.get(w, (None, None))[1])
        for w in dict.fromkeys(c[1] for c in configs)
    }
    try:
        for worker in workers.values():  # every worker has started: none competes with the peak
            worker.call("ping")
        size = 256 if config.image_size < 32 else 2048
        peaks = _matmul_peaks(workers, size)
        results["models"] = [
            _bench_model(name, config, configs, workers, log)
            for name in config.models
        ]
        # Measured again at the end: a busy moment must not lower the peak (which would inflate
        # every utilisation), so utilisations use the better of the two.
        end = _matmul_peaks(workers, size)
        best = {d: max(peaks["best"][d], end["best"][d]) for d in peaks["best"]}
        results["matmul_peak_gflops"] = {
            **{k: peaks[k] for k in peaks if k != "best"},
            "best_at_start": peaks["best"],
            "best_at_end": end["best"],
            "best": best,
            "size": size,
        }
        for entry in results["models"]:
            for t in entry["training"].values():
                t["utilisation"] = t["achieved_gflops"] / best[t["compute_dtype"]]
    finally:
        for worker in workers.values():
            worker.close()
    if config.curves:  # after the main workers have ended: each point has the machine alone
        from kzoo.bench.curves import run_curves
        from kzoo.bench.curves_figure import write_curves_figure

        results["curves"] = run_curves(config, "torch" in frameworks, log)
        results["curves"]["figure"] = write_curves_figure(out_dir / "curves.png",
                                                          results["curves"])
    results["load_average"]["end"] = load_average()
    results["seconds"] = round(time.time() - started, 1)
    return results


def _matmul_peaks(workers, size) -> dict:
    peaks = {}
    if "kzoo" in workers:
        peaks["tensorflow"] = workers["kzoo"].call("peak", size=size)
    if "torch" in workers:
        peaks["torch"] = workers["torch"].call("peak", size=size)
    peaks["best"] = {d: max(p[d] for p in peaks.values()) for d in ("float32", "bfloat16")}
    return peaks


def _bench_model(name, config, configs, workers, log) -> dict:
    log(f"{name}: building and warming up {len(configs)} configurations")
    setups = {}
    for label, kind, variant, _ in configs:
        setups[label] = workers[kind].call(
            "setup",
            variant=variant,
            name=name,
            batch=config.batch,
            steps=config.steps,
            warmup=config.warmup,
            image_size=config.image_size,
            seed=config.seed,
            **({"overrides": ABLATION_WORKERS[kind][0]} if kind in ABLATION_WORKERS else {}),
        )
    kzoo = setups["kzoo default"]
    for label, setup in setups.items():
        if setup["trainable_params"] != kzoo["trainable_params"]:
            raise RuntimeError(
                f"{label}'s {name} has {setup['trainable_params']:,} trainable parameters, kzoo's "
                f"has {kzoo['trainable_params']:,}: the reference is not the same architecture."
            )
    steps = steps_for(config, setups)
    log(f"{name}: {steps} steps per round and configuration")
    rounds = _alternate(configs, config.repeats, workers, "train", {"steps": steps}, log, name)
    training = {}
    for label, _, _, dtype in configs:
        # float32 kernels that round to bfloat16 inside (the probe says) count against its peak.
        rounds_bf16 = setups[label].get("float32_convolutions_round_to_bfloat16")
        bf16 = "bfloat16" in setups[label]["policy"] or rounds_bf16
        dtype = dtype or ("bfloat16" if bf16 else "float32")
        runs = rounds[label]
        ips = summarize([r["images_per_second"] for r in runs])
        gflops = ips["median"] * TRAIN_FLOPS_PER_MAC * kzoo["macs"] / 1e9
        training[label] = {
            "policy": setups[label]["policy"],
            "compute_dtype": dtype,
            "images_per_second": ips,
            "step_ms": summarize([r["step_ms"] for r in runs]),
            "achieved_gflops": gflops,
            "utilisation": None,  # set once the peak has been measured again at the end
            "peak_memory_mb": max(r["peak_memory_mb"] for r in runs),
            "load_average": [r["load_average"][0] for r in runs if r["load_average"]],
        }
        for fact in ("float32_convolutions_round_to_bfloat16", "onednn_fpmath_mode"):
            if fact in setups[label]:
                training[label][fact] = setups[label][fact]
    entry = {
        "model": name,
        "trainable_params": kzoo["trainable_params"],
        "macs_per_image": kzoo["macs"],
        "steps_per_round": steps,
        "kzoo_policy": kzoo["policy"],
        "kzoo_deterministic": kzoo["deterministic"],
        "training": training,
        "ratios": _training_ratios(rounds),
    }
    default = [r["images_per_second"] for r in rounds["kzoo default"]]
    for label, worker, _, _ in configs:
        if any(a[:2] == (label, worker) for a in ABLATIONS):
            ablated = [r["images_per_second"] for r in rounds[label]]
            entry["ratios"][f"kzoo_vs_{worker}"] = _ratio(default, ablated, None)
    if config.profile:
        log(f"{name}: tracing {config.profile_steps} steps of kzoo's default path")
        entry["profile"] = workers["kzoo"].call(
            "profile",
            steps=config.profile_steps,
            trace_dir=str(Path(config.out_dir).resolve() / "profile" / name),
        )
    if config.kernel_steps:
        log(f"{name}: naming the oneDNN kernels of {config.kernel_steps} steps of kzoo's default path")
        entry["kernels"] = _sample_kernels(name, config)
    if config.serving:
        main = [c for c in configs if c not in ABLATIONS]
        entry["serving"], serving_ratios = _serving(name, config, main, workers, kzoo, log)
        entry["ratios"].update(serving_ratios)
    return entry


def _sample_kernels(name, config) -> dict:
    """Run `kernel_steps` training steps of kzoo's default path in a fresh worker with oneDNN's
    verbose log on (apart from the timed workers: the log slows every kernel) and summarise it."""
    log_path = Path(config.out_dir) / "kernels" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    worker = Worker("kzoo", log_path, extra_env={"ONEDNN_VERBOSE": "1"})
    try:
        # Warm-up steps first (kernel creation, first-touch costs), then a mark in the log, then
        # the steps summarised.
        steps = max(2, config.kernel_steps)  # a timed round needs two steps
        worker.call("setup", name=name, batch=config.batch, steps=steps, warmup=2,
                    image_size=config.image_size, seed=config.seed)
        mark = worker.call("mark")
        worker.call("train", steps=steps)
    finally:
        worker.close()
    summary = parse_verbose(log_path.read_text(encoding="utf-8", errors="replace"), after=mark)
    return {**summary, "steps": steps, "log": str(log_path)}


def steps_for(config, setups) -> int:
    """`config.steps`, or fewer so a typical configuration's round takes ~`round_seconds`.

    Typical = the median warm-up step time: one configuration slowed down by a busy machine (PyTorch's
    OpenMP threads are, badly) must not cut every other configuration's measurement short.
    """
    if config.round_seconds is None:
        return config.steps
    warm = [s["warmup_step_ms"] for s in setups.values() if s.get("warmup_step_ms")]
    if not warm:
        return config.steps
    typical = statistics.median(warm)
    return max(3, min(config.steps, int(config.round_seconds * 1e3 / typical)))


def _alternate(configs, repeats, workers, op, kwargs, log, name) -> dict:
    """Each round runs every configuration once; the order rotates so none always goes first."""
    rounds = {label: [] for label, *_ in configs}
    for r in range(repeats):
        order = configs[r % len(configs):] + configs[: r % len(configs)]
        for label, kind, variant, _ in order:
            result = workers[kind].call(op, variant=variant, **kwargs)
            rounds[label].append(result)
        summary = ", ".join(f"{label} {rounds[label][-1]['images_per_second']:.0f}" for label, *_ in configs)
        log(f"{name} {op} round {r + 1}/{repeats} (img/s): {summary}")
    return rounds


def _serving(name, config, configs, workers, kzoo, log):
    labels = {"kzoo default": "kzoo SavedModel", "plain Keras": "Keras model.predict",
              "kzoo TFLite": "kzoo TFLite (XNNPACK)"}
    serve_configs = list(configs)
    serve_configs[1:1] = [ONE_THREAD, TFLITE]  # after the SavedModel
    one_thread = Worker("kzoo", Path(config.out_dir) / f"worker-kzoo-1-thread-{name}.log",
                        ONE_THREAD_ENV)
    workers = {**workers, ONE_THREAD[1]: one_thread}
    try:
        # The same architecture and seed; no training steps: serving time does not depend on
        # the weights' values.
        started = one_thread.call("setup", name=name, batch=config.batch, steps=2, warmup=0,
                                  image_size=config.image_size, seed=config.seed)
        serving, ratios = _serve_all(name, config, serve_configs, workers, kzoo, labels, log)
        serving[ONE_THREAD[0]]["intra_op_threads"] = started["intra_op_threads"]
        return serving, ratios
    finally:
        one_thread.close()


def _serve_all(name, config, serve_configs, workers, kzoo, labels, log):
    for _, kind, variant, _ in serve_configs:
        # Only the main kzoo worker's export writes the TFLite model its TFLite row serves.
        tflite = {"tflite": True} if (kind, variant) == ("kzoo", None) else {}
        workers[kind].call("setup_serving", variant=variant, serving_batch=config.serving_batch,
                           seed=config.seed, **tflite)
    rounds = _alternate(
        serve_configs,
        config.repeats,
        workers,
        "serve",
        {"latency_calls": config.latency_calls, "throughput_calls": config.throughput_calls},
        log,
        name,
    )
    serving = {}
    for label, *_ in serve_configs:
        runs = rounds[label]
        ips = summarize([r["images_per_second"] for r in runs])
        key = labels.get(label, label.replace("PyTorch", "PyTorch eval"))
        serving[key] = {
            "batch": config.serving_batch,
            "latency_ms_batch1": summarize([r["latency_ms"] for r in runs]),
            # Every batch-1 call of every round: a tail (p99) shows what a median hides.
            "latency_ms_batch1_percentiles": percentiles(
                [t for r in runs for t in r["latencies_ms"]]),
            "images_per_second": ips,
            "achieved_gflops": ips["median"] * SERVE_FLOPS_PER_MAC * kzoo["macs"] / 1e9,
            "peak_memory_mb": max(r["peak_memory_mb"] for r in runs),
        }
        if "graph_latency_ms" in runs[0]:
            serving[key]["graph_latency_ms_batch1"] = summarize(
                [r["graph_latency_ms"] for r in runs])
    ratios = {}
    torch_labels = [c[0] for c in serve_configs if c[1] == "torch"]
    saved = [r["images_per_second"] for r in rounds["kzoo default"]]
    if torch_labels:
        best = [max(rounds[t][i]["images_per_second"] for t in torch_labels) for i in range(len(saved))]
        ratios["savedmodel_vs_best_torch_eval"] = _ratio(saved, best, TARGETS["savedmodel_vs_best_torch_eval"])
        best_latency = [min(rounds[t][i]["latency_ms"] for t in torch_labels) for i in range(len(saved))]
        own = [r["latency_ms"] for r in rounds["kzoo default"]]
        # > 1: the SavedModel answers a single image faster than the faster PyTorch eval.
        ratios["savedmodel_latency_vs_best_torch_eval"] = _ratio(best_latency, own, None)
        lite = [r["latency_ms"] for r in rounds["kzoo TFLite"]]
        ratios["tflite_latency_vs_best_torch_eval"] = _ratio(
            best_latency, lite, TARGETS["tflite_latency_vs_best_torch_eval"])
        one = [r["latency_ms"] for r in rounds[ONE_THREAD[0]]]
        ratios["savedmodel_1_thread_latency_vs_best_torch_eval"] = _ratio(best_latency, one, None)
        ratios["tflite_vs_best_torch_eval"] = _ratio(
            [r["images_per_second"] for r in rounds["kzoo TFLite"]], best, None)
    if "plain Keras" in rounds:
        ratios["savedmodel_vs_predict"] = _ratio(saved, [r["images_per_second"] for r in rounds["plain Keras"]], None)
    return serving, ratios


def _training_ratios(rounds) -> dict:
    kzoo = [r["images_per_second"] for r in rounds["kzoo default"]]
    ratios = {}
    if "plain Keras" in rounds:
        plain = [r["images_per_second"] for r in rounds["plain Keras"]]
        ratios["kzoo_vs_plain_keras"] = _ratio(kzoo, plain, TARGETS["kzoo_vs_plain_keras"])
    torch_labels = [label for label in rounds if label.startswith("PyTorch")]
    if torch_labels:
        best = [max(rounds[t][i]["images_per_second"] for t in torch_labels) for i in range(len(kzoo))]
        ratios["kzoo_vs_best_torch"] = _ratio(kzoo, best, TARGETS["kzoo_vs_best_torch"])
        medians = {t: statistics.median(r["images_per_second"] for r in rounds[t]) for t in torch_labels}
        ratios["kzoo_vs_best_torch"]["best_torch"] = max(medians, key=medians.get)
    return ratios


def _ratio(numerators, denominators, target) -> dict:
    """Median (and range) of the per-round ratios: paired, so load drift between rounds cancels."""
    per_round = [a / b for a, b in zip(numerators, denominators, strict=True)]
    value = statistics.median(per_round)
    out = {"value": value, "min": min(per_round), "max": max(per_round), "rounds": per_round}
    if target is not None:
        out["target"] = target
        out["met"] = bool(value >= target)
    return out
