"""Lesson -- Gradient checking: compare the analytic gradient with a centred finite difference.

The lecture's one-time setup (CS231n, seed 003): before training, check the backward pass against
(f(w + h) - f(w - h)) / 2h, by the relative error |a - n| / max(|a|, |n|): at most 1e-7 is fine,
1e-4 or more is suspicious -- in double precision, and minding kinks, where a correct gradient
still shows a large error because the two evaluations straddle a non-differentiable point.

The experiment, with `kzoo.gradcheck`:
1. correct vs wrong: a kzoo layer (Highway) and a Swish layer with a hand-written
   (`tf.custom_gradient`) backward pass, once right, once with a bug (the z*s*(1-s) term left out);
2. precision: the error of the correct Swish gradient against the step h, in float32 and float64
   -- truncation error falls as h^2, rounding error grows as 1/h;
3. kinks: a ReLU layer whose inputs lie within 1e-3 of its kink: the fraction of coordinates
   whose centred difference crosses it, and their error, against h.

Over its 3 seeds (different inputs and weights) the lesson takes about 55 s on 2 CPU cores.

Reference: CS231n course notes, Neural Networks Part 3, "Gradient checks".
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kzoo.gradcheck import FINE, SUSPICIOUS, gradcheck
from kzoo.lab._common import seed_everything, write_results
from kzoo.layers import Highway

LESSON = "gradient_checking"
CLAIM = ("A centred-difference check in float64 finds correct gradients (Highway, a hand-written "
         "Swish) fine (relative error <= 1e-7) and a Swish gradient missing its z*s*(1-s) term "
         "suspicious (>= 1e-4) with no kink to blame; at its best step float64 reaches <= 1e-7 "
         "while float32 stays above 1e-7 and over 100x worse; across ReLU kinks the error reaches "
         ">= 1e-4 and those coordinates are flagged as kinks, except crossings by less than 1e-3 "
         "of the step, which escape the flag with errors below 5e-4 (a false 'suspicious' when "
         "above 1e-4).")
PAPER = "CS231n notes, Neural Networks Part 3: gradient checks"
SEEDS = (0, 1, 2)  # ~4000 finite differences per seed: 5 seeds would overrun 60 s
# gradcheck flags a kink when the one-sided differences disagree by over 1e-3 of their size; a
# crossing by delta < 1e-3 h escapes the flag with a centred-difference error delta / 2h < 5e-4.
UNFLAGGED = 5e-4
STEPS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


class Swish(keras.layers.Layer):
    """y = z * sigmoid(z), z = x * scale, with its gradient written by hand.

    The derivative is s + z s (1 - s); with `bug=True` the backward pass returns s alone, the kind
    of slip a gradient check exists to catch (the forward pass is right either way).
    """

    def __init__(self, bug=False, **kwargs):
        super().__init__(**kwargs)
        self.bug = bug

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                     initializer=keras.initializers.RandomUniform(0.5, 1.5))

    def call(self, inputs):
        bug = self.bug

        @tf.custom_gradient
        def swish(z):
            s = tf.sigmoid(z)

            def backward(upstream):
                return upstream * (s if bug else s + z * s * (1.0 - s))

            return z * s, backward

        return swish(inputs * self.scale)

    def get_config(self):
        return {**super().get_config(), "bug": self.bug}


def _errors(report) -> dict:
    return {t.name.rsplit("/", 1)[-1] if t.name != "inputs" else "inputs": t.max_error
            for t in report.tensors}


def correct_vs_wrong(x, seed) -> dict:
    """Per-tensor max relative error and verdict of three layers."""
    layers = {"Highway (tanh)": Highway(x.shape[-1], activation="tanh"),
              "Swish, right gradient": Swish(bug=False, dtype="float64"),
              "Swish, buggy gradient": Swish(bug=True, dtype="float64")}
    out = {}
    for name, layer in layers.items():
        report = gradcheck(layer, x, seed=seed)
        out[name] = {"errors": _errors(report), "passed": report.passed,
                     "kinks": report.kinks, "max_error": report.max_error}
    return out


def error_against_step(x, dtype, steps) -> list[float]:
    """Max relative error of the right Swish gradient w.r.t. the inputs for each step h, computing
    the forward passes and the finite difference in `dtype` (gradcheck itself works in float64)."""
    layer = Swish(dtype=dtype)
    xs = tf.constant(x, dtype)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        y = tf.reduce_sum(layer(xs))
    analytic = tape.gradient(y, xs).numpy().astype(np.float64)
    errors = []
    for h in steps:
        step = tf.constant(h, dtype)
        worst = 0.0
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                e = tf.one_hot([i * x.shape[1] + j], x.size, dtype=dtype)
                e = tf.reshape(e, x.shape) * step
                numeric = float((tf.reduce_sum(layer(xs + e)) - tf.reduce_sum(layer(xs - e)))
                                / (2 * step))
                a = analytic[i, j]
                worst = max(worst, abs(a - numeric) / max(abs(a), abs(numeric), 1e-300))
        errors.append(worst)
    return errors


def kinks_against_step(seed, steps, n=256) -> dict:
    """A ReLU layer on inputs within 1e-3 of zero: per step, how many coordinates crossed a kink
    (flagged by gradcheck), their largest error, and the largest error of the others."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1e-3, 1e-3, size=(1, n))
    layer = keras.layers.ReLU(dtype="float64")
    crossed, kink_error, smooth_error = [], [], []
    for h in steps:
        t = gradcheck(layer, x, eps=h, max_coords=n, seed=seed)["inputs"]
        crossed.append(t.kinks / t.checked)
        kink_error.append(t.kink_max_error)
        smooth_error.append(t.max_error)
    expected = [min(1.0, h / 1e-3) for h in steps]  # |x| < h crosses; |x| is uniform on [0, 1e-3)
    return {"crossed": crossed, "expected_crossed": expected, "kink_max_error": kink_error,
            "smooth_max_error": smooth_error}


def run(out_dir, *, seed=0, smoke=False, steps=None) -> dict:
    """Run the three parts; write gradient_checking.png / .json.

    Returns per part the measured errors, `claim_holds` -- correct gradients fine (<= 1e-7) and the
    buggy one suspicious (>= 1e-4) without kinks; float64's best step beats float32's best by
    orders of magnitude and only float64 reaches "fine"; kinks flagged (off them the error stays
    below UNFLAGGED, the bound for a crossing too slight to flag), with the
    crossed fraction ~ h / 1e-3 -- and a `conclusion`.
    """
    seed_everything(seed)
    steps = tuple(steps or ((1e-2, 1e-3, 1e-4, 1e-5, 1e-6) if smoke else STEPS))
    x = np.random.default_rng(seed).normal(size=(2 if smoke else 4, 6))
    layers = correct_vs_wrong(x, seed)
    precision = {dtype: error_against_step(x[:1, :3] if smoke else x[:2], dtype, steps)
                 for dtype in ("float32", "float64")}
    kinks = kinks_against_step(seed, steps, n=32 if smoke else 256)
    best = {d: min(e) for d, e in precision.items()}
    claim = (
        layers["Highway (tanh)"]["max_error"] <= FINE
        and layers["Swish, right gradient"]["max_error"] <= FINE
        and layers["Swish, buggy gradient"]["errors"]["inputs"] >= SUSPICIOUS
        and layers["Swish, buggy gradient"]["kinks"] == 0
        and not layers["Swish, buggy gradient"]["passed"]
        and best["float64"] <= FINE < best["float32"]
        and best["float32"] / best["float64"] > 100
        and max(kinks["smooth_max_error"]) < UNFLAGGED
        and max(kinks["kink_max_error"]) >= SUSPICIOUS
    )
    buggy = layers["Swish, buggy gradient"]["errors"]
    h = 1e-4 if 1e-4 in steps else steps[len(steps) // 2]
    conclusion = (
        f"Highway and a hand-written Swish gradient check to "
        f"{layers['Highway (tanh)']['max_error']:.0e} and "
        f"{layers['Swish, right gradient']['max_error']:.0e} (fine); the Swish gradient without "
        f"its z*s*(1-s) term shows {buggy['inputs']:.2f} (suspicious) with no kink to blame. With "
        f"the best step the error is {best['float64']:.0e} in float64 but {best['float32']:.0e} "
        f"in float32. With ReLU inputs within 1e-3 of the kink, h={h:g} makes "
        f"{kinks['crossed'][steps.index(h)]:.0%} of the coordinates cross it (expected "
        f"{kinks['expected_crossed'][steps.index(h)]:.0%}), with errors up to "
        f"{max(kinks['kink_max_error']):.1f}, flagged as kinks; off them the largest error is "
        f"{max(kinks['smooth_max_error']):.0e}"
        + (" (a crossing too slight to flag: a false 'suspicious')"
           if max(kinks["smooth_max_error"]) >= SUSPICIOUS else "")
    )
    numbers = dict(steps=list(steps), layers=layers, precision=precision,
                   best_error=best, kinks=kinks, claim_holds=bool(claim), conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def headline(result) -> dict:
    """The errors the claim compares with the thresholds 1e-7 (fine) and 1e-4 (suspicious)."""
    layers = result["layers"]
    return {
        "max relative error, correct gradients (Highway, Swish)": max(
            layers["Highway (tanh)"]["max_error"], layers["Swish, right gradient"]["max_error"]),
        "relative error, Swish gradient missing z*s*(1-s)":
            layers["Swish, buggy gradient"]["errors"]["inputs"],
        "best relative error over h, float64": result["best_error"]["float64"],
        "best relative error over h, float32": result["best_error"]["float32"],
        "max relative error off the flagged ReLU kinks": max(result["kinks"]["smooth_max_error"]),
    }


def _figure(n):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    names = list(n["layers"])
    tensors = sorted({t for v in n["layers"].values() for t in v["errors"]})
    width = 0.8 / len(tensors)
    for k, tensor in enumerate(tensors):
        values = [max(n["layers"][m]["errors"].get(tensor, np.nan), 1e-17) for m in names]
        ax.bar(np.arange(len(names)) + k * width, values, width, label=tensor)
    ax.set_xticks(np.arange(len(names)) + width * (len(tensors) - 1) / 2, names, fontsize=8)
    _thresholds(ax)
    ax.set(yscale="log", ylabel="max relative error", title="correct vs buggy backward pass")
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    for dtype, style in (("float32", "o-"), ("float64", "s-")):
        ax.plot(n["steps"], np.maximum(n["precision"][dtype], 1e-17), style, label=dtype)
    _thresholds(ax)
    ax.set(xscale="log", yscale="log", xlabel="step h", ylabel="max relative error",
           title="right Swish gradient: error vs step")
    ax.legend(fontsize=8)
    ax = axes[2]
    k = n["kinks"]
    steps = np.asarray(n["steps"])
    crossed = np.asarray(k["crossed"])
    seen = crossed > 0
    ax.plot(steps[seen], crossed[seen], "o-", label="measured (flagged as kinks)")
    ax.plot(steps, k["expected_crossed"], "k:", label="expected: min(1, h / 1e-3)")
    ax.set(xscale="log", yscale="log", xlabel="step h", ylabel="fraction of coordinates",
           title="ReLU inputs within 1e-3 of the kink: crossings")
    ax.text(0.03, 0.97, f"error at crossings: up to {max(k['kink_max_error']):.2g}\n"
            f"error elsewhere: at most {max(k['smooth_max_error']):.0e}",
            transform=ax.transAxes, va="top", fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": "grey"})
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Gradient checking in float64: fine <= 1e-7, suspicious >= 1e-4 (dotted)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _thresholds(ax):
    ax.axhline(FINE, color="green", ls=":", lw=1)
    ax.axhline(SUSPICIOUS, color="red", ls=":", lw=1)
