"""Lesson 4 -- Batch normalisation: fewer steps to a target accuracy and a wider range of stable rates.

The lecture (Ioffe & Szegedy 2015): normalising each layer's pre-activations over the mini-batch
keeps their scale fixed whatever the weights do, so training reaches a given accuracy in fewer steps
and tolerates much higher learning rates, which would make the plain network diverge.

The experiment, in the paper's terms (its Fig. 2 and Sec. 4.2): a 10-layer ReLU MLP (He init) on the
UCI digits, without and with batch norm before each ReLU, trained by plain SGD at every rate of a
half-decade grid. Every `probe_every` updates the held-out accuracy is measured; a run's "steps to
target" is the first update count at which it reaches `target`. Each variant is shown at its best
rate (fewest steps). A rate is *stable* when training ends with a finite loss below the loss of
guessing (ln 10): the largest stable rate of each variant is the edge of its usable range.

Over 3 seeds: about 2 min on 2 CPU cores (2 variants x 7 rates x 8 epochs per seed).

Reference: Ioffe, Szegedy. "Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift." ICML 2015, Fig. 2 and Sec. 4.2.
"""

from __future__ import annotations

import math

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results

LESSON = "batch_norm"
CLAIM = ("With batch norm a 10-layer ReLU MLP reaches 90% held-out accuracy in fewer SGD steps (each "
         "variant at its best rate) and trains stably at learning rates at least 10x larger than "
         "without it.")
PAPER = "Ioffe & Szegedy 2015, Batch Normalization, Fig. 2 and Sec. 4.2"
SEEDS = (0, 1, 2)
LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
VARIANTS = {"plain": "none", "batch norm": "batch"}
RATE_RATIO = 10.0


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


class _HeldOutProbe(keras.callbacks.Callback):
    """Held-out accuracy (inference mode) every `every` updates: [(step, accuracy), ...]."""

    def __init__(self, x, y, every):
        super().__init__()
        self.x, self.y, self.every, self.step, self.points = x, y, every, 0, []

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0:
            probs = keras.ops.convert_to_numpy(self.model(self.x, training=False))
            self.points.append((self.step, float(np.mean(np.argmax(probs, axis=1) == self.y))))


def steps_to(points, target):
    """The first probed step whose accuracy reaches `target`, or None."""
    return next((step for step, acc in points if acc >= target), None)


def run(out_dir, *, seed=0, smoke=False, depth=10, width=64, epochs=None, target=0.9,
        learning_rates=None, dataset="digits", batch_size=32, probe_every=6) -> dict:
    """Train the MLP with and without batch norm at each learning rate; compare steps and range.

    Args:
        out_dir: output directory.
        seed: random seed (validation split, weights, batch order).
        smoke: a tiny configuration (three rates, 1 epoch).
        depth, width: the ReLU MLP's hidden layers and units.
        epochs: epochs per run (default 8; smoke 1).
        target: held-out accuracy to reach.
        learning_rates: SGD rates (default `LEARNING_RATES`).
        dataset: an offline dataset of `kzoo.data`.
        batch_size: minibatch size.
        probe_every: updates between held-out measurements (the resolution of "steps to target").

    Returns:
        `probes[variant][lr]` ([step, accuracy] pairs), `steps_to_target[variant][lr]`,
        `stable[variant][lr]`, per variant `summary` (`fewest_steps`, `best_lr`, `largest_stable_lr`,
        `largest_lr_to_target`), `claim_holds` and a `conclusion`.

    Example:
        >>> result = run("runs/lab", seed=0)
        >>> s = result["summary"]
        >>> s["batch norm"]["fewest_steps"] < s["plain"]["fewest_steps"]
        True
    """
    epochs = (1 if smoke else 8) if epochs is None else epochs
    if learning_rates is None:
        learning_rates = (0.01, 0.1, 1.0) if smoke else LEARNING_RATES
    x, y, xv, yv = _split(dataset, seed)
    classes = int(y.max()) + 1
    probes, to_target, stable, final_loss = {}, {}, {}, {}
    for variant, norm in VARIANTS.items():
        probes[variant], to_target[variant], stable[variant], final_loss[variant] = {}, {}, {}, {}
        for lr in learning_rates:
            seed_everything(seed)
            model = kzoo.create_model("plain_mlp", depth=depth, width=width, activation="relu",
                                      init="he_normal", norm=norm, input_shape=x.shape[1:],
                                      classes=classes)
            model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                          jit_compile=False)
            probe = _HeldOutProbe(xv, yv, probe_every)
            hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                             callbacks=[probe, keras.callbacks.TerminateOnNaN()])
            loss = float(hist.history["loss"][-1])
            key = str(lr)
            probes[variant][key] = probe.points
            to_target[variant][key] = steps_to(probe.points, target)
            final_loss[variant][key] = loss if math.isfinite(loss) else None
            stable[variant][key] = math.isfinite(loss) and loss < math.log(classes) \
                and len(hist.history["loss"]) == epochs
            keras.backend.clear_session()

    summary = {}
    for variant in VARIANTS:
        reached = {float(lr): s for lr, s in to_target[variant].items() if s is not None}
        steady = [float(lr) for lr, ok in stable[variant].items() if ok]
        best_lr = min(reached, key=lambda lr: (reached[lr], lr)) if reached else None
        summary[variant] = {
            "fewest_steps": reached[best_lr] if reached else None, "best_lr": best_lr,
            "largest_stable_lr": max(steady) if steady else None,
            "largest_lr_to_target": max(reached) if reached else None,
        }
    p, b = summary["plain"], summary["batch norm"]
    faster = b["fewest_steps"] is not None and (
        p["fewest_steps"] is None or b["fewest_steps"] < p["fewest_steps"])
    wider = b["largest_stable_lr"] is not None and (
        p["largest_stable_lr"] is None
        # Rates come from a grid; the tolerance only absorbs float rounding of the product.
        or b["largest_stable_lr"] >= RATE_RATIO * p["largest_stable_lr"] * (1 - 1e-9))
    conclusion = (
        f"To {target:.0%} held-out accuracy ({depth}-layer ReLU MLP, SGD, {dataset}): batch norm "
        f"needs {b['fewest_steps']} steps (lr {b['best_lr']}) vs {p['fewest_steps']} without "
        f"(lr {p['best_lr']}); the largest stable rate is {b['largest_stable_lr']} with batch norm "
        f"vs {p['largest_stable_lr']} without."
    )
    numbers = dict(depth=depth, width=width, epochs=epochs, target=target, dataset=dataset,
                   seed=seed, learning_rates=list(learning_rates), batch_size=batch_size,
                   probe_every=probe_every, probes=probes, steps_to_target=to_target,
                   stable=stable, final_loss=final_loss, summary=summary, conclusion=conclusion,
                   claim_holds=bool(faster and wider))
    return write_results(out_dir, LESSON, numbers, _figure([numbers]), smoke=smoke)


def headline(result) -> dict:
    """Steps to the target at each variant's best rate, and each variant's largest stable rate."""
    s = result["summary"]
    return {
        "steps to target, plain": s["plain"]["fewest_steps"],
        "steps to target, batch norm": s["batch norm"]["fewest_steps"],
        "largest stable lr, plain": s["plain"]["largest_stable_lr"],
        "largest stable lr, batch norm": s["batch norm"]["largest_stable_lr"],
    }


def figure_over_seeds(results):
    """Held-out accuracy against steps at each variant's best rate (every seed), and the rates."""
    return _figure(results)


def _figure(results):
    import matplotlib.pyplot as plt

    n = results[0]
    colors = {"plain": "tab:red", "batch norm": "tab:blue"}
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    for variant in VARIANTS:
        for i, r in enumerate(results):
            best = r["summary"][variant]["best_lr"]
            if best is None:
                continue
            steps, acc = zip(*r["probes"][variant][str(best)], strict=True)
            ax.plot(steps, acc, "-", color=colors[variant], alpha=0.55, lw=1.2,
                    label=f"{variant} (each seed at its best lr)" if i == 0 else None)
            reached = r["summary"][variant]["fewest_steps"]
            if reached is not None:
                ax.plot([reached], [n["target"]], "o", color=colors[variant], ms=5)
        lrs = [float(lr) for lr in n["learning_rates"]]
        for i, r in enumerate(results):
            jitter = 1 + 0.04 * (i - (len(results) - 1) / 2)
            ok = [1.0 if r["stable"][variant][str(lr)] else 0.0 for lr in n["learning_rates"]]
            ax2.plot(np.array(lrs) * jitter, np.array(ok) + (0.04 if variant == "plain" else -0.04),
                     "o", color=colors[variant], alpha=0.6,
                     label=f"{variant} (each seed)" if i == 0 else None)
    ax.axhline(n["target"], color="0.4", ls=":", label=f"target {n['target']:.0%}")
    ax.set(xlabel="SGD updates", ylabel="held-out accuracy", ylim=(0, 1.02),
           title="steps to the target (dots: first probe at the target)")
    ax.legend(fontsize=8, loc="lower right")
    ax2.set_xscale("log")
    ax2.set_yticks([0, 1], ["diverged or\nno better than guessing", "stable"])
    ax2.set(xlabel="SGD learning rate (log scale)", ylim=(-0.4, 1.4),
            title="which learning rates train stably")
    ax2.legend(fontsize=8, loc="center left")
    for a in (ax, ax2):
        a.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Batch norm: a {n['depth']}-layer ReLU MLP on {n['dataset']}, plain SGD, batch "
                 f"{n['batch_size']}, {n['epochs']} epochs per run; {len(results)} seed"
                 f"{'s' * (len(results) > 1)}", fontsize=10)
    return fig
