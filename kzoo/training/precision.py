"""`mixed_precision="auto"`: the fastest Keras precision policy that keeps accuracy on this machine."""

from __future__ import annotations

import contextlib
import platform
from pathlib import Path

# bfloat16 keeps float32's exponent range, so it trains without loss scaling; CPUs compute it at
# full speed only with these extensions (otherwise it is emulated and slower than float32).
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
_CPU_FLAGS = ("avx2", "avx512f", *_BF16_CPU_FLAGS, "amx_tile", "avx512_fp16")


def resolve_precision(value) -> str:
    """The Keras dtype policy name a `TrainConfig.mixed_precision` value stands for on this machine.

    `"auto"` picks `"mixed_float16"` on a GPU of compute capability 7.0 or newer (tensor cores),
    `"mixed_bfloat16"` on a CPU with AVX512_BF16 or AMX (Intel Cooper Lake / Sapphire Rapids and
    later, AMD Zen 4 and later), and `"float32"` elsewhere; None means `"float32"`; any other value
    is returned as it is (TrainConfig validates it).

    Args:
        value: None, `"auto"`, `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`.

    Example:
        >>> resolve_precision("auto")   # on this project's AVX512_BF16 CPU
        'mixed_bfloat16'

    Reference:
        Micikevicius et al., "Mixed Precision Training", ICLR 2018; Kalamkar et al., "A Study of
        BFLOAT16 for Deep Learning Training", 2019.
    """
    if value is None:
        return "float32"

    if value != "auto":
        return value
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return "mixed_float16" if details.get("compute_capability", (0, 0)) >= (7, 0) else "float32"
    if any(flag in cpu_flags() for flag in _BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"


def cpu_flags() -> list[str]:
    """Which of the CPU extensions that decide bf16 speed this CPU reports (Linux; [] elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((row for row in text.splitlines() if row.startswith("flags")), "")
    flags = set(line.split(":", 1)[-1].split())
    return [f for f in _CPU_FLAGS if f in flags]


def cpu_model() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def precision_policy(value):
    """Set Keras' global dtype policy to `resolve_precision(value)` for the block, then restore it.

    Layers take the policy when they are built, so models are created inside the block.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(resolve_precision(value))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
