"""Benchmark results as Markdown tables (printed and saved) and JSON, both written atomically."""

from __future__ import annotations

from pathlib import Path

from kzoo.utils.files import atomic_write_json, atomic_write_text

JSON_NAME = "bench.json"
MARKDOWN_NAME = "bench.md"


def write_results(results: dict, out_dir) -> tuple[Path, Path]:
    """Write `bench.json` and `bench.md` into `out_dir`; each appears whole or not at all."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / JSON_NAME, out_dir / MARKDOWN_NAME
    atomic_write_json(json_path, results)
    atomic_write_text(md_path, format_markdown(results))
    return json_path, md_path


def _pct(x) -> str:
    return f"{100 * x:.0f}%"


def _latency(serving) -> str:
    p = serving.get("latency_ms_batch1_percentiles")
    if p is None:  # results written before percentiles were recorded
        return f"{serving['latency_ms_batch1']['median']:.1f}"
    return f"{p['p50']:.1f} / {p['p99']:.1f}"


def _ratio(ratios, key) -> str:
    r = ratios.get(key)
    if r is None:
        return "-"
    mark = "" if "met" not in r else (" ok" if r["met"] else " MISSED")
    return f"{r['value']:.2f}x ({r['min']:.2f}-{r['max']:.2f}){mark}"


def format_markdown(results: dict) -> str:
    """The results as Markdown: conditions, training, serving and the targets' ratios."""
    cfg, machine = results["config"], results["machine"]
    peak = results.get("matmul_peak_gflops", {})
    load = results["load_average"]
    steps = ", ".join(f"{m['model']} {m['steps_per_round']}" for m in results.get("models", []))
    lines = [
        f"# kzoo bench ({results['created']})",
        "",
        f"{machine['cpu']}, {machine['cores']} cores, flags {', '.join(machine['cpu_flags']) or '-'}; "
        + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v),
        f"Batch {cfg['batch']}, {cfg['image_size']}x{cfg['image_size']}x3 synthetic images, "
        f"{cfg['repeats']} alternating rounds of up to {cfg['steps']} steps per configuration "
        f"(per model: {steps}); "
        "medians over rounds, spread = (max - min) / median.",
        f"Load average (1 min) at start {load['start'][:1]}, at end {load.get('end', ['?'])[:1]} "
        f"on {machine['cores']} cores.",
    ]
    if peak:
        start, end = peak["best_at_start"], peak["best_at_end"]
        lines.append(
            "Matmul peak (GFLOP/s, best of frameworks; utilisation uses the better of the two): "
            f"fp32 {start['float32']:.0f} at start / {end['float32']:.0f} at end, "
            f"bf16 {start['bfloat16']:.0f} / {end['bfloat16']:.0f}."
        )
    lines += [f"Note: {n}" for n in results.get("notes", [])]
    lines += [
        "",
        "## Training",
        "",
        "| model | configuration | policy | img/s | spread | step ms | GFLOP/s | utilisation | peak MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results.get("models", []):
        for label, t in m["training"].items():
            lines.append(
                f"| {m['model']} | {label} | {t['policy']} | {t['images_per_second']['median']:.0f} | "
                f"{_pct(t['images_per_second']['spread'])} | {t['step_ms']['median']:.0f} | "
                f"{t['achieved_gflops']:.0f} | {_pct(t['utilisation'])} | {t['peak_memory_mb']:.0f} |"
            )
    probed = [(m["model"], label, t["float32_convolutions_round_to_bfloat16"])
              for m in results.get("models", []) for label, t in m["training"].items()
              if "bf16 math" in label and "float32_convolutions_round_to_bfloat16" in t]
    lines += [""] * bool(probed) + [
        f"{model}, {label}: float32 convolutions "
        f"{'did' if rounds else 'did not'} round their inputs to bfloat16 (probe: 3x3 convolution "
        "of 1 + 2^-12)."
        for model, label, rounds in probed
    ]
    if any("serving" in m for m in results.get("models", [])):
        lines += [
            "",
            f"## Serving (throughput at batch {cfg['serving_batch']}, latency at batch 1)",
            "",
            "| model | configuration | latency ms p50 / p99 | img/s | spread | GFLOP/s | peak MiB |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for m in results["models"]:
            for label, s in m.get("serving", {}).items():
                lines.append(
                    f"| {m['model']} | {label} | {_latency(s)} | "
                    f"{s['images_per_second']['median']:.0f} | "
                    f"{_pct(s['images_per_second']['spread'])} | {s['achieved_gflops']:.0f} | "
                    f"{s['peak_memory_mb']:.0f} |"
                )
        lines += ["", "(The kzoo SavedModel and TFLite rows are served by one worker process: their "
                  "peak MiB is that process's.)", ""] + [
            f"{m['model']}, {label}: batch-1 call {_latency(s)} ms p50 / p99, of which the "
            f"model's own graph (normalised input, no signature) "
            f"{s['graph_latency_ms_batch1']['median']:.1f} ms (median of round medians)."
            for m in results["models"]
            for label, s in m.get("serving", {}).items()
            if "graph_latency_ms_batch1" in s
        ]
    lines += [
        "",
        "## Ratios (median of per-round ratios, range in brackets; targets from issues 8 and 20)",
        "",
        "| model | default / plain Keras (>= 1.5) | default / best PyTorch (>= 1.0) | "
        "SavedModel / best PyTorch eval (>= 1.0) | SavedModel / predict | TFLite / best PyTorch "
        "eval | batch-1 latency, PyTorch / SavedModel | PyTorch / SavedModel with 1 thread | "
        "PyTorch / TFLite (>= 1.0) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in results.get("models", []):
        r = m["ratios"]
        best = r.get("kzoo_vs_best_torch", {}).get("best_torch")
        lines.append(
            f"| {m['model']} | {_ratio(r, 'kzoo_vs_plain_keras')} | "
            f"{_ratio(r, 'kzoo_vs_best_torch')}{f' vs {best}' if best else ''} | "
            f"{_ratio(r, 'savedmodel_vs_best_torch_eval')} | {_ratio(r, 'savedmodel_vs_predict')} | "
            f"{_ratio(r, 'tflite_vs_best_torch_eval')} | "
            f"{_ratio(r, 'savedmodel_latency_vs_best_torch_eval')} | "
            f"{_ratio(r, 'savedmodel_1_thread_latency_vs_best_torch_eval')} | "
            f"{_ratio(r, 'tflite_latency_vs_best_torch_eval')} |"
        )
    lines += _profile_lines(results)
    lines += _kernel_lines(results)
    lines += _curve_lines(results)
    return "\n".join(lines) + "\n"


def _curve_lines(results) -> list[str]:
    curves = results.get("curves")
    if not curves:
        return []
    lines = [
        "", "## How cost grows (`--curves`: each point in its own pair of processes)", "",
        f"Figure: `{curves['figure']}`.", "",
        "| model | batch | kzoo img/s | PyTorch img/s | kzoo / PyTorch | kzoo peak MiB | "
        "PyTorch peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in curves["points"]:
        k, t = p["kzoo"], p.get("torch")
        k_ips = k["images_per_second"]["median"]
        cells = [p["model"], p["batch"], f"{k_ips:.0f}", "-", "-", f"{k['peak_memory_mb']:.0f}", "-"]
        if t is not None:
            t_ips = t["images_per_second"]["median"]
            cells[3:5] = [f"{t_ips:.0f}", f"{k_ips / t_ips:.2f}x"]
            cells[6] = f"{t['peak_memory_mb']:.0f}"
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += [f"Failed: {f['model']} at batch {f['batch']}: {f['error']}"
              for f in curves.get("failed", [])]
    for key, axis, what, between in (("memory_per_image", "batch", "image", "batch sizes"),
                                     ("memory_per_layer", "depth", "layer", "depths")):
        lines += _slope_table(curves, key, axis, what, between)
    return lines


def _slope_table(curves, key, axis, what, between) -> list[str]:
    rows = curves.get(key)
    if not rows:
        return []
    where = (f"{curves['batch_curve_model']}" if axis == "batch"
             else f"batch {curves['depth_curve_batch']}")
    lines = ["", f"Memory per {what} ({where}, MiB, the slope of the peak between neighbouring "
             f"{between}):", "",
             f"| {'batches' if axis == 'batch' else 'depths'} | kzoo | PyTorch | "
             "kzoo exceeds PyTorch |", "|---|---:|---:|---|"]
    for r in rows:
        torch = f"{r['torch']:.2f}" if "torch" in r else "-"
        exceeds = {True: "yes", False: "no"}.get(r.get("kzoo_exceeds_torch"), "-")
        lines.append(f"| {r[f'from_{axis}']}-{r[f'to_{axis}']} | {r['kzoo']:.2f} | {torch} | "
                     f"{exceeds} |")
    return lines


def _kernel_lines(results, rows: int = 8) -> list[str]:
    sampled = [m for m in results.get("models", []) if "kernels" in m]
    if not sampled:
        return []
    lines = ["", "## oneDNN kernels of kzoo's default training step (ONEDNN_VERBOSE sample)", ""]
    for m in sampled:
        k = m["kernels"]
        lines += [f"{m['model']}, {k['steps']} steps after warm-up: {k['version'] or 'oneDNN'} "
                  f"dispatched to {k['isa'] or 'an ISA it did not name'}; {k['executions']} "
                  f"primitive executions (the log: `{k['log']}`)."]
        if k["kernels"]:
            lines += ["", "| primitive | pass | implementation | calls | ms | share |",
                      "|---|---|---|---:|---:|---:|"]
            lines += [f"| {r['primitive']} | {r['pass']} | {r['implementation']} | {r['calls']} | "
                      f"{r['ms']:.1f} | "
                      f"{_pct(r['share']) if r['share'] is not None else '-'} |"
                      for r in k["kernels"][:rows]]
        lines.append("")
    return lines


def _profile_lines(results) -> list[str]:
    profiled = [m for m in results.get("models", []) if "profile" in m]
    if not profiled:
        return []
    lines = ["", "## Profile of kzoo's default training step (self time by TensorFlow op type)", ""]
    for m in profiled:
        p = m["profile"]
        lines.append(f"{m['model']}, {p['steps']} steps traced into `{p['trace_dir']}`:")
        if not p["op_types"]:
            lines += [f"{p['note']}", ""]
            continue
        lines += ["", "| op type | self s | share | count |", "|---|---:|---:|---:|"]
        lines += [
            f"| {o['type']} | {o['self_seconds']:.3f} | {_pct(o['share'])} | {o['count']} |"
            for o in p["op_types"]
        ]
        lines.append("")
    return lines
