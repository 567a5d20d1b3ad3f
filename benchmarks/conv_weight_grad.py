"""The bf16 weight gradient of a 3x3 stride-1 SAME convolution (NHWC) on CPU, alternatives.

`tf.raw_ops.Conv2DBackpropFilter` (oneDNN's backward-weights kernel) against: `fwd`, the forward
convolution with the same FLOPs (a yardstick, not a gradient); `patches`, im2col with
`tf.image.extract_patches` and one bf16 matmul; `concat9`, im2col from 9 shifted slices; `shift9`,
9 shifted bf16 matmuls; `convtrick`, the gradient as a VALID convolution with batch and channels
swapped; `nchw`, the same op on NCHW-transposed tensors. Each is checked against the float32
gradient, then the variants alternate per shape and round; the report gives medians and the median
per-round ratio to Conv2DBackpropFilter.

    python benchmarks/conv_weight_grad.py [ROUNDS] [HWxC,...] [VARIANT,...]

Default shapes: ResNet-20/56's (16/32/64 channels at 32/16/8) and WRN-16-8's (128/256/512), batch
128. On the project's 2-core AVX512_BF16 CPU (shared with another job) all results agreed with the
float32 gradient to bf16 rounding (max error 0.2-0.3% of max |dW|, the same for every variant);
Conv2DBackpropFilter was the fastest at every shape but 8x8 with 512 channels (shift9 / convtrick
0.66-0.76x there; convtrick 0.85-0.95x at 8x8 with 64). A WRN-16-8 training step (kzoo's default
path) with shift9 as the filter gradient of its three 8x8 512-channel convolutions (a custom
gradient) measured median per-round ratios of 1.03 and 0.96 in two alternating runs, per-round
0.53-1.49: no difference beyond the shared machine's noise, so kzoo keeps TensorFlow's gradient.
"""

import sys
import time

import numpy as np
import tensorflow as tf

B = 128
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
SHAPES = [(32, 16), (16, 32), (8, 64), (32, 128), (16, 256), (8, 512)]
if len(sys.argv) > 2 and sys.argv[2]:
    SHAPES = [tuple(map(int, s.split("x"))) for s in sys.argv[2].split(",")]
VARIANTS = ["ref", "fwd", "patches", "concat9", "shift9", "convtrick", "nchw"]
if len(sys.argv) > 3:
    VARIANTS = sys.argv[3].split(",")
S1 = [1, 1, 1, 1]


def ref(x, dy):
    c, k = x.shape[-1], dy.shape[-1]
    return tf.raw_ops.Conv2DBackpropFilter(
        input=x, filter_sizes=[3, 3, c, k], out_backprop=dy, strides=S1, padding="SAME"
    )


def fwd(x, dy):  # forward conv with the same FLOPs (filter from dy's channel count)
    c, k = x.shape[-1], dy.shape[-1]
    return tf.nn.conv2d(x, tf.ones((3, 3, c, k), x.dtype), 1, "SAME")


def patches(x, dy):
    c, k = x.shape[-1], dy.shape[-1]
    p = tf.image.extract_patches(x, [1, 3, 3, 1], S1, S1, "SAME")
    w = tf.matmul(tf.reshape(p, [-1, 9 * c]), tf.reshape(dy, [-1, k]), transpose_a=True)
    return tf.reshape(w, [3, 3, c, k])


def concat9(x, dy):
    c, k = x.shape[-1], dy.shape[-1]
    h, wd = x.shape[1], x.shape[2]
    xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    p = tf.concat([xp[:, i : i + h, j : j + wd, :] for i in range(3) for j in range(3)], -1)
    w = tf.matmul(tf.reshape(p, [-1, 9 * c]), tf.reshape(dy, [-1, k]), transpose_a=True)
    return tf.reshape(w, [3, 3, c, k])


def shift9(x, dy):
    c, k = x.shape[-1], dy.shape[-1]
    h, wd = x.shape[1], x.shape[2]
    xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    d = tf.reshape(dy, [-1, k])
    ws = [
        tf.matmul(tf.reshape(xp[:, i : i + h, j : j + wd, :], [-1, c]), d, transpose_a=True)
        for i in range(3)
        for j in range(3)
    ]
    return tf.reshape(tf.stack(ws), [3, 3, c, k])


def convtrick(x, dy):
    # dW[i,j,c,k] = sum_{b,h,w} xpad[b,h+i,w+j,c] dy[b,h,w,k]: a VALID conv with batch=c,
    # channels=b, input xpad^T (c, H+2, W+2, b), filter dy^T (H, W, b, k) -> (c, 3, 3, k).
    xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    out = tf.nn.conv2d(tf.transpose(xp, [3, 1, 2, 0]), tf.transpose(dy, [1, 2, 0, 3]), 1, "VALID")
    return tf.transpose(out, [1, 2, 0, 3])


def nchw(x, dy):
    c, k = x.shape[-1], dy.shape[-1]
    return tf.raw_ops.Conv2DBackpropFilter(
        input=tf.transpose(x, [0, 3, 1, 2]),
        filter_sizes=[3, 3, c, k],
        out_backprop=tf.transpose(dy, [0, 3, 1, 2]),
        strides=S1,
        padding="SAME",
        data_format="NCHW",
    )


fns = {}
for hw, c in SHAPES:
    rng = np.random.default_rng(hw * 1000 + c)
    x = tf.constant(rng.normal(size=(B, hw, hw, c)), "bfloat16")
    dy = tf.constant(rng.normal(size=(B, hw, hw, c)) * 0.01, "bfloat16")
    exact = ref(tf.cast(x, "float32"), tf.cast(dy, "float32")).numpy()
    d = {}
    for v in VARIANTS:
        f = tf.function(globals()[v])
        try:
            out = np.float32(f(x, dy))
        except Exception as e:  # noqa: BLE001
            print("FAILED", v, (hw, c), type(e).__name__, str(e)[:200])
            continue
        if v != "fwd":
            err = np.max(np.abs(out - exact)) / np.max(np.abs(exact))
            print(f"{hw}x{c} {v}: max |err| / max |dW| vs float32 = {err:.4f}", flush=True)
        d[v] = f
    fns[(hw, c)] = (d, x, dy)

calls = 3
res = {s: {v: [] for v in fns[s][0]} for s in SHAPES}
for r in range(ROUNDS):
    for s, (d, x, dy) in fns.items():
        order = list(d) if r % 2 == 0 else list(d)[::-1]
        for v in order:
            ts = []
            for _ in range(calls):
                t = time.perf_counter()
                d[v](x, dy).numpy()
                ts.append(time.perf_counter() - t)
            res[s][v].append(np.median(ts) * 1e3)
print(
    f"batch {B}, {ROUNDS} rounds x median of {calls} calls; ms median (median per-round ratio to ref)"
)
for s, d in res.items():
    base = np.array(d["ref"])
    print(
        f"{s[0]:>2}x{s[0]} C={s[1]:<4} "
        + "  ".join(
            f"{v} {np.median(d[v]):.1f} ({np.median(np.array(d[v]) / base):.2f})" for v in d
        )
    )
