"""Lesson 10 -- Maxout: the activation function is learned, as a convex piecewise-linear shape.

The lecture: a maxout unit takes the max of k linear pieces, so it can learn ReLU, |x| or any convex
piecewise-linear function with at most k pieces. We fit one 1-in/1-out `kzoo.layers.Maxout` unit to
each target on x in [-2, 2] and read back the shape it learned: its error, and how many of its
pieces are active (the argmax) somewhere on the interval.

Reference: Goodfellow, Warde-Farley, Mirza, Courville, Bengio. "Maxout Networks." ICML 2013, Fig. 1.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kzoo.lab._common import seed_everything, write_results
from kzoo.layers import Maxout

LESSON = "maxout"
CLAIM = ("A single maxout unit learns its activation: with 4 linear pieces it fits ReLU and |x| "
         "to within 0.1 and the convex x^2 with its pieces as tangents.")
PAPER = "Goodfellow et al. 2013, Maxout Networks, Fig. 1"
SEEDS = (0, 1, 2, 3, 4)  # a few seconds each
TARGETS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "abs": np.abs,
    "square": np.square,
}


def fit_unit(target, pieces, *, seed=0, epochs=300, points=401):
    """Fit one Maxout(1, pieces) unit to `target` on [-2, 2]; return (x, y_true, y_fit, layer)."""
    seed_everything(seed)
    x = np.linspace(-2.0, 2.0, points, dtype="float32")[:, None]
    y = TARGETS[target](x).astype("float32")
    layer = Maxout(1, pieces)
    model = keras.Sequential([keras.Input((1,)), layer])
    # A piece that never wins the max gets no gradient, so every piece must start active: the
    # pieces start as tangents of the neutral parabola x^2 / 2 at random points p_j in [-2, 2]
    # (slope p_j, intercept -p_j^2 / 2), all distinct, so each is the max somewhere.
    touch = np.random.default_rng(seed).uniform(-2.0, 2.0, pieces).astype("float32")
    layer.kernel.assign(touch[None, :])
    layer.bias.assign(-(touch**2) / 2.0)
    model.compile(keras.optimizers.Adam(0.05), "mse")
    # Full-batch steps as one epoch of a repeated dataset: per-epoch overhead would dominate.
    # Every step sees the whole grid, so there is nothing to shuffle; fit's default
    # shuffle=True would only warn that it cannot shuffle a tf.data dataset.
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    model.fit(data, steps_per_epoch=epochs, epochs=1, verbose=0, shuffle=False)
    return x[:, 0], y[:, 0], model.predict(x, verbose=0)[:, 0], layer


def active_pieces(layer, x) -> int:
    """How many of the unit's linear pieces are the maximum somewhere on the grid `x`."""
    w, b = (keras.ops.convert_to_numpy(v) for v in (layer.kernel, layer.bias))
    lines = x[:, None] * w[0][None, :] + b[None, :]
    return int(len(np.unique(np.argmax(lines, axis=1))))


def run(out_dir, *, seed=0, smoke=False, pieces=4, epochs=None, targets=None) -> dict:
    """Fit a maxout unit to each convex target; write maxout.png / maxout.json.

    Args:
        out_dir: output directory.
        seed: random seed (initial pieces).
        smoke: a shorter fit (200 full-batch steps).
        pieces: linear pieces k of the unit.
        epochs: full-batch Adam steps (default 400; smoke 200).
        targets: subset of "relu", "abs", "square".

    Returns:
        Per target: the RMS and max error on [-2, 2], the active pieces and the tolerance;
        `claim_holds` (every fit within its tolerance, never more than `pieces` pieces) and a
        `conclusion`.
    """
    epochs = epochs or (200 if smoke else 400)
    targets = list(targets or TARGETS)
    fits, results = {}, {}
    for target in targets:
        x, y, fit, layer = fit_unit(target, pieces, seed=seed, epochs=epochs)
        err = fit - y
        active = active_pieces(layer, x)
        # ReLU and |x| need 2 pieces and are fitted almost exactly. x^2 on [-2, 2] is not piecewise
        # linear: the best straight line misses it by 2.0, the best k-piece fit by (4/k)^2 / 8;
        # a least-squares fit (not minimax) should stay within half the straight line's error.
        tol = 0.1 if target != "square" else 1.0
        results[target] = dict(
            rms_error=float(np.sqrt(np.mean(err**2))), max_error=float(np.max(np.abs(err))),
            active_pieces=active, tolerance=tol,
        )
        fits[target] = (x, y, fit)
    claim = all(r["max_error"] <= r["tolerance"] and r["active_pieces"] <= pieces
                for r in results.values())
    conclusion = f"a single {pieces}-piece maxout unit fits " + ", ".join(
        f"{t} to max error {r['max_error']:.3f} with {r['active_pieces']} active pieces"
        for t, r in results.items()
    )
    numbers = dict(pieces=pieces, epochs=epochs, results=results, claim_holds=bool(claim),
                   conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers, fits), smoke=smoke)


def _figure(n, fits):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fits), figsize=(4 * len(fits), 3.6), squeeze=False)
    for ax, (target, (x, y, fit)) in zip(axes[0], fits.items(), strict=True):
        r = n["results"][target]
        ax.plot(x, y, color="grey", lw=4, alpha=0.5, label=f"target {target}")
        ax.plot(x, fit, color="tab:red", lw=1.5,
                label=f"maxout fit ({r['active_pieces']} of {n['pieces']} pieces)")
        ax.set(xlabel="input x", ylabel="unit output",
               title=f"{target}: max error {r['max_error']:.3f}")
        ax.legend(fontsize=8)
    fig.suptitle(f"A {n['pieces']}-piece maxout unit learns convex piecewise-linear activations",
                 fontsize=10)
    fig.tight_layout()
    return fig


def headline(result) -> dict:
    """The largest fitting error per target and the pieces x^2 uses."""
    fits = result["results"]
    numbers = {f"max error, {t}": fits[t]["max_error"] for t in fits}
    if "square" in fits:
        numbers["active pieces, x^2"] = fits["square"]["active_pieces"]
    return numbers

