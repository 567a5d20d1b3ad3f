"""Which oneDNN kernels ran: the ISA oneDNN dispatched to and each primitive's implementation.

TensorFlow's CPU kernels (convolutions, matmuls, batch norm, pooling, ...) go through oneDNN, which
picks an implementation per primitive for the CPU it finds (`brg_conv_fwd:avx512_core_amx`,
`jit:avx512_core_bf16`, `ref:any`, ...). With `ONEDNN_VERBOSE=1` it prints one line per executed
primitive; a few steps of that log say which kernels a run used and where their time went, so two
benchmark runs on different CPUs can be compared kernel by kernel. No library parses these lines
(they are a debugging format), hence this small parser.
"""

from __future__ import annotations

from collections import defaultdict

PREFIXES = ("onednn_verbose", "dnnl_verbose")


def parse_verbose(text: str, top: int = 25, after: str | None = None) -> dict:
    """Summarise a oneDNN verbose log.

    Args:
        text: the log (lines not from oneDNN are ignored).
        top: how many (primitive, implementation, pass) rows to keep, largest time first.
        after: count only the executions after the last one whose problem description is `after`
            (a marker run between warm-up and the steps sampled); the version and ISA, printed
            once at the start, are read from the whole log.

    Returns:
        `version`, `isa` (oneDNN's own name of the instruction set it dispatched to), `executions`,
        `total_ms` and `kernels`: rows of `primitive`, `pass` (oneDNN's prop_kind:
        forward_training, backward_data, backward_weights, ...), `implementation`, `isa` (the
        implementation's ISA suffix, or None), `calls`, `ms` and `share` of the total time.

    Example:
        >>> parse_verbose("onednn_verbose,v1,primitive,exec,cpu,convolution,"
        ...               "brg_conv_fwd:avx512_core_bf16,forward_training,,,,mb1,0.5")["kernels"][0]["isa"]
        'avx512_core_bf16'
    """
    version = isa = None
    calls, times = defaultdict(int), defaultdict(float)
    lines = text.splitlines()
    marks = [i for i, line in enumerate(lines) if after is not None and f",{after}," in line]
    first_sampled = marks[-1] + 1 if marks else 0
    for index, line in enumerate(lines):
        fields = line.strip().split(",")
        if fields[0] not in PREFIXES:
            continue
        fields = fields[1:]
        if fields and fields[0].startswith("v") and fields[0][1:].isdigit():  # format marker
            fields = fields[1:]
        if fields and fields[0] in ("primitive", "common", "graph", "ukernel"):
            fields = fields[1:]
        if len(fields) >= 2 and fields[0] == "info":
            detail = ",".join(fields[1:])
            if detail.startswith("oneDNN v") or detail.startswith("DNNL v"):
                version = detail.split(" (")[0]
            elif detail.startswith("cpu,isa:"):
                isa = detail[len("cpu,isa:"):]
            continue
        if index < first_sampled or len(fields) < 4 or fields[0] != "exec" or fields[1] != "cpu":
            continue
        key = (fields[2], fields[3] or "-", fields[4] if len(fields) > 5 else "-")
        calls[key] += 1
        try:
            times[key] += float(fields[-1])
        except ValueError:
            pass
    total = sum(times.values())
    rows = [
        {
            "primitive": primitive,
            "pass": pass_,
            "implementation": impl,
            "isa": impl.rsplit(":", 1)[1] if ":" in impl else None,
            "calls": calls[(primitive, impl, pass_)],
            "ms": times[(primitive, impl, pass_)],
            "share": times[(primitive, impl, pass_)] / total if total else None,
        }
        for primitive, impl, pass_ in calls
    ]
    rows.sort(key=lambda r: (-r["ms"], -r["calls"], r["primitive"], r["implementation"], r["pass"]))
    return {"version": version, "isa": isa, "executions": sum(calls.values()), "total_ms": total,
            "kernels": rows[:top]}
