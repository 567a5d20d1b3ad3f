"""Lesson: batch normalisation -- faster training and larger usable learning rates.

The lecture (Ioffe & Szegedy 2015): normalising each layer's pre-activations over the mini-batch
keeps their scale fixed whatever the weights do, so training reaches a given accuracy in fewer
epochs and tolerates much higher learning rates, which would make the plain network diverge.

The experiment: a deep ReLU MLP (He init) on the UCI digits, with `norm="none"` and
`norm="batch"` (BN before each ReLU), trained by plain SGD over a grid of learning rates for a
fixed number of epochs. For each run: the epoch at which validation accuracy first reaches the
target (None if never). Reported per variant: the fewest epochs to the target over the grid (each
variant at its own best learning rate) and the largest learning rate that reaches the target.
"""

from __future__ import annotations

import math

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results

LESSON = "batch_norm"
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
VARIANTS = {"plain": "none", "batch norm": "batch"}


def _split(dataset, seed, validation=0.2):
    a = kzoo.data.load_arrays(dataset)
    x = a["x_train"].reshape(len(a["x_train"]), -1).astype("float32")
    y = a["y_train"]
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(len(x) * validation)
    val, train = order[:n_val], order[n_val:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-3
    x = (x - mean) / std
    return x[train], y[train], x[val], y[val]


def _epochs_to(curve, target):
    return next((i + 1 for i, acc in enumerate(curve) if acc >= target), None)


def run(out_dir, *, seed=0, smoke=False, depth=10, width=64, epochs=None, target=0.9,
        learning_rates=None, dataset="digits", batch_size=32) -> dict:
    """Train the MLP with and without batch norm at each learning rate; compare speed and range.

    Returns `val_accuracy[variant][lr]` curves, `epochs_to_target[variant][lr]`, per variant
    `fewest_epochs` and `largest_lr`, a `conclusion` and `claim_holds` (batch norm reaches the
    target in fewer epochs at its best learning rate and with a strictly larger learning rate).
    """
    epochs = (6 if smoke else 15) if epochs is None else epochs
    if learning_rates is None:
        learning_rates = (0.01, 0.1, 1.0) if smoke else LEARNING_RATES
    x, y, xv, yv = _split(dataset, seed)
    classes = int(y.max()) + 1
    curves, to_target = {}, {}
    for variant, norm in VARIANTS.items():
        curves[variant], to_target[variant] = {}, {}
        for lr in learning_rates:
            seed_everything(seed)
            model = kzoo.create_model("plain_mlp", depth=depth, width=width, activation="relu",
                                      init="he_normal", norm=norm, input_shape=x.shape[1:],
                                      classes=classes)
            model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                          metrics=["accuracy"], jit_compile=False)
            hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                             validation_data=(xv, yv), shuffle=True)
            acc = [0.0 if math.isnan(v) else float(v) for v in hist.history["val_accuracy"]]
            curves[variant][str(lr)] = acc
            to_target[variant][str(lr)] = _epochs_to(acc, target)
            keras.backend.clear_session()

    summary = {}
    for variant, runs in to_target.items():
        reached = {float(lr): e for lr, e in runs.items() if e is not None}
        summary[variant] = {
            "fewest_epochs": min(reached.values()) if reached else None,
            "largest_lr": max(reached) if reached else None,
        }
    p, b = summary["plain"], summary["batch norm"]
    claim = (
        b["fewest_epochs"] is not None
        and (p["fewest_epochs"] is None or b["fewest_epochs"] < p["fewest_epochs"])
        and (p["largest_lr"] is None or b["largest_lr"] > p["largest_lr"])
    )
    conclusion = (
        f"To {target:.0%} validation accuracy ({depth}-layer ReLU MLP, SGD, {dataset}): batch norm "
        f"needs {b['fewest_epochs']} epochs vs {p['fewest_epochs']} without, and still gets there "
        f"at learning rate {b['largest_lr']} vs at most {p['largest_lr']} without."
    )
    numbers = dict(depth=depth, width=width, epochs=epochs, target=target, dataset=dataset,
                   seed=seed, learning_rates=list(learning_rates), val_accuracy=curves,
                   epochs_to_target=to_target, summary=summary, conclusion=conclusion,
                   claim_holds=bool(claim))
    return write_results(out_dir, LESSON, numbers, _figure(curves, summary, target, depth, epochs), smoke=smoke)


def _figure(curves, summary, target, depth, epochs):
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    colors = {"plain": "tab:red", "batch norm": "tab:blue"}
    for variant, runs in curves.items():
        lrs = [float(lr) for lr in runs]
        best = max(runs.values(), key=lambda c: (max(c), -(c.index(max(c)))))
        label_lr = lrs[list(runs.values()).index(best)]
        ax.plot(np.arange(1, len(best) + 1), best, "o-", color=colors[variant],
                label=f"{variant} (best lr {label_lr:g})")
        ax2.plot(lrs, [max(c) for c in runs.values()], "o-", color=colors[variant],
                 label=f"{variant}: largest lr reaching target = {summary[variant]['largest_lr']}")
    for a in (ax, ax2):
        a.axhline(target, color="0.4", ls=":", label=f"target {target:.0%}")
        a.set_ylim(0, 1.02)
        a.grid(True, which="both", alpha=0.3)
        a.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.set_title("each variant at its learning rate with the best final accuracy")
    ax2.set_xscale("log")
    ax2.set_xlabel("SGD learning rate (log scale)")
    ax2.set_ylabel(f"best validation accuracy in {epochs} epochs")
    ax2.set_title("learning-rate range")
    fig.suptitle(f"Batch norm: a {depth}-layer ReLU MLP reaches the target in fewer epochs and "
                 "trains at larger learning rates")
    return fig
