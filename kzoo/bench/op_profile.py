"""`kzoo bench --profile`: where kzoo's training step spends its time, by TensorFlow op type.

TensorFlow's profiler writes the trace (view it in TensorBoard's Profile tab); the per-op-type
summary comes from xprof, the profiler's own converter (the `[profile]` extra), rather than a
hand-written XSpace parser.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

PROFILER_MISSING = (
    "the op summary needs xprof: `pip install 'kzoo[profile]'` (the trace was written; "
    "`tensorboard --logdir TRACE_DIR` shows it in the Profile tab)"
)
TOP_OP_TYPES = 12


def profile_steps(run_steps, steps: int, trace_dir) -> dict:
    """Trace `run_steps(steps)` into `trace_dir` and summarise its op self-times by op type.

    Args:
        run_steps: callable running `steps` training steps (already warmed up).
        steps: how many steps to trace.
        trace_dir: directory of the TensorFlow profiler trace (created).

    Returns:
        {"trace_dir", "steps", "op_types": [{"type", "self_seconds", "share", "count"}, ...] or
        None, "note"}; shares are of the total non-idle self time of the traced steps.
    """
    import tensorflow as tf

    trace_dir = Path(trace_dir)
    trace_dir.mkdir(parents=True, exist_ok=True)
    tf.profiler.experimental.start(str(trace_dir))
    try:
        run_steps(steps)
    finally:
        tf.profiler.experimental.stop()
    result = {"trace_dir": str(trace_dir), "steps": steps, "op_types": None, "note": None}
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError:
        result["note"] = PROFILER_MISSING.replace("TRACE_DIR", str(trace_dir))
        return result
    # The newest run only: an earlier bench into the same directory left its own.
    runs = sorted((p for p in trace_dir.rglob("*.xplane.pb")), key=lambda p: p.stat().st_mtime)
    if not runs:
        result["note"] = f"TensorFlow's profiler wrote no trace into {trace_dir}"
        return result
    newest = [str(p) for p in runs if p.parent == runs[-1].parent]
    data, _ = raw_to_tool_data.xspace_to_tool_data(newest, "framework_op_stats", {})
    result["op_types"] = op_type_table(json.loads(data))
    return result


def op_type_table(tables, top: int = TOP_OP_TYPES) -> list[dict]:
    """Self time by op type from xprof's `framework_op_stats` tables, largest first.

    The `top` largest types are listed; the rest are summed into one "(other)" row.
    """
    table = tables[0] if isinstance(tables, list) else tables
    ids = [col["id"] for col in table["cols"]]
    seconds, counts = defaultdict(float), defaultdict(int)
    for row in table["rows"]:
        cells = dict(zip(ids, (cell.get("v") for cell in row["c"]), strict=True))
        if cells["type"] == "IDLE":
            continue
        seconds[cells["type"]] += cells["total_self_time"] / 1e6
        counts[cells["type"]] += int(cells["occurrences"])
    total = sum(seconds.values())
    ranked = sorted(seconds, key=seconds.get, reverse=True)
    rows = [
        {"type": t, "self_seconds": seconds[t], "share": seconds[t] / total, "count": counts[t]}
        for t in ranked[:top]
    ]
    rest = ranked[top:]
    if rest:
        other = sum(seconds[t] for t in rest)
        rows.append(
            {"type": "(other)", "self_seconds": other, "share": other / total,
             "count": sum(counts[t] for t in rest)}
        )
    return rows
