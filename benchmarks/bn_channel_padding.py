"""Batch norm under mixed_bfloat16 on CPU: zero-padded channels vs the float32 round trip.

`FusedBatchNormalization` pads bf16 inputs whose channel count is not a multiple of 16 (oneDNN's
vectorised bf16 kernel needs one) with zero channels; `kzoo.layers.batch_norm._PAD_BF16_CHANNELS =
False` restores the previous path (cast to float32, normalise, cast back). The switch is read when
a call is traced, so both variants live in one process and alternate round by round; the report
gives medians and per-round ratios (padded / float32), which hold up on a shared machine better
than absolute times.

    python benchmarks/bn_channel_padding.py layer [ROUNDS]          # forward + backward of the layer
    python benchmarks/bn_channel_padding.py model [ROUNDS] [STEPS]  # kzoo's default training step

`layer` times the layer at 15 of DenseNet-BC-100's (k=12) batch-norm shapes, batch 128; `model`
builds densenet_bc_100_12 twice with `kzoo.bench.keras_phases.KzooDefault` (each takes ~1 minute to
build and trace on 2 cores) and alternates `fit` rounds.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import kzoo.layers.batch_norm as bn_module

BATCH = 128
# (spatial size, channels) of DenseNet-BC-100's batch norms that are not multiples of 16: dense
# block inputs 24 + 12i at 32x32, 108 + 12i at 16x16, 150 + 12i at 8x8, transitions 216 and 300,
# the final batch norm 342.
LAYER_SHAPES = [
    *((32, c) for c in (36, 84, 120, 180, 216)),
    *((16, c) for c in (108, 156, 204, 252, 300)),
    *((8, c) for c in (150, 198, 246, 294, 342)),
]
VARIANTS = {"float32": False, "padded": True}


def _layer_step(hw, channels, pad):
    import keras
    import tensorflow as tf

    from kzoo.layers.batch_norm import FusedBatchNormalization

    bn_module._PAD_BF16_CHANNELS = pad
    layer = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, dtype="mixed_bfloat16")
    layer.build((None, hw, hw, channels))
    weight = tf.cast(tf.random.normal((BATCH, hw, hw, channels)), "bfloat16")

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x, training=True) * weight, "float32"))
        return tape.gradient(loss, [x, layer.gamma, layer.beta])

    x = tf.cast(tf.random.normal((BATCH, hw, hw, channels)), "bfloat16")
    step(x)  # traced now, with the switch as set above
    keras.backend.clear_session(free_memory=False)

    def run(calls=5):
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            step(x)[0].numpy()
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1e3

    return run


def _ratios_line(results):
    a, b = (np.array(results[v]) for v in VARIANTS)
    ratios = b / a
    return (
        f"{np.median(a):9.1f} {np.median(b):9.1f} {np.median(ratios):7.2f}  "
        + " ".join(f"{r:.2f}" for r in ratios)
    )


def bench_layer(rounds):
    runs = {s: {v: _layer_step(*s, pad) for v, pad in VARIANTS.items()} for s in LAYER_SHAPES}
    results = {s: {v: [] for v in VARIANTS} for s in LAYER_SHAPES}
    for r in range(rounds):
        order = list(VARIANTS) if r % 2 == 0 else list(VARIANTS)[::-1]
        for shape, run in runs.items():
            for v in order:
                results[shape][v].append(run[v]())
    print(f"layer forward + backward, batch {BATCH}, {rounds} rounds x median of 5 calls (ms)")
    print(" hw    C   float32    padded   ratio  per-round ratios")
    for (hw, c), res in results.items():
        print(f"{hw:3d} {c:4d} " + _ratios_line(res))


def bench_model(rounds, steps, name="densenet_bc_100_12"):
    from kzoo.bench.keras_phases import KzooDefault

    runs = {}
    for v, pad in VARIANTS.items():
        bn_module._PAD_BF16_CHANNELS = pad  # read when the warm-up traces the train function
        runs[v] = KzooDefault()
        facts = runs[v].setup(name, BATCH, steps, 3, 32, 0)
        print(v, facts, flush=True)
    results = {v: [] for v in VARIANTS}
    for r in range(rounds):
        for v in list(VARIANTS) if r % 2 == 0 else list(VARIANTS)[::-1]:
            results[v].append(runs[v].train_round(steps)["step_ms"])
        print(f"round {r}: " + "  ".join(f"{v} {results[v][-1]:.0f} ms" for v in VARIANTS))
    print(f"{name} training step, batch {BATCH}, {rounds} rounds x {steps} steps (median ms)")
    print("  float32    padded   ratio  per-round ratios")
    print(_ratios_line(results))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "layer"
    args = [int(a) for a in sys.argv[2:]]
    if what == "layer":
        bench_layer(*(args or [5]))
    else:
        bench_model(*(args or [4, 6]))
