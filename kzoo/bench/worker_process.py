"""A benchmark worker: one process per configuration family, driven by JSON lines on stdin.

Run as a script (`python worker_process.py kzoo|keras|torch`). Separate processes keep each
configuration's process-wide settings apart (kzoo's op determinism and precision policy, thread
pools) and give each its own peak memory; a PyTorch worker never imports TensorFlow.

Requests: {"op": "setup" | "train" | "profile" | "setup_serving" | "serve" | "peak" | "mark" |
"close", ...};
each is answered by one line {"ok": true, "result": ...} or {"ok": false, "error": "<traceback>"}.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _make(kind):
    if kind == "torch":
        import torch_phases

        return {p: torch_phases.TorchReference(p) for p in torch_phases.PRECISIONS}, torch_phases
    from kzoo.bench import keras_phases

    if kind == "kzoo":
        default = keras_phases.KzooDefault()
        return {"default": default, "tflite": keras_phases.TFLiteServing(default)}, keras_phases
    return {"default": keras_phases.PlainKeras()}, keras_phases


def main(kind: str) -> int:
    # The protocol owns the real stdout; anything the libraries print goes to stderr instead.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    # This directory goes first on sys.path, so no module in it may share a standard-library
    # name (a `profile.py` here once broke PyTorch's `import cProfile`).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import procinfo

    configs, module = _make(kind)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        try:
            if op == "close":
                for config in configs.values():
                    config.close()
                protocol.write(json.dumps({"ok": True, "result": None}) + "\n")
                return 0
            result = _handle(op, request, configs, module, procinfo)
            protocol.write(json.dumps({"ok": True, "result": result}) + "\n")
        except Exception:
            protocol.write(json.dumps({"ok": False, "error": traceback.format_exc()}) + "\n")
    return 0


_METHODS = {
    "setup": "setup",
    "train": "train_round",
    "setup_serving": "setup_serving",
    "serve": "serve_round",
    "profile": "profile_round",
}


def _handle(op, request, configs, module, procinfo):
    if op == "ping":
        return None
    if op == "peak":
        return module.matmul_peak(**request)
    if op == "mark":
        return module.verbose_mark()
    variant = request.pop("variant", None) or next(iter(configs))
    config = configs[variant]
    # Only kzoo's default path can be profiled ("profile_round"); the others answer the rest.
    method = getattr(config, _METHODS[op])
    mode = procinfo.reset_peak_memory()
    result = dict(method(**request))
    result["peak_memory_mb"] = procinfo.peak_memory_mb()
    result["peak_memory_scope"] = mode
    result["load_average"] = procinfo.load_average()
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
