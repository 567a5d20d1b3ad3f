"""Lesson 6 -- Highway networks: plain MLPs stop training as depth grows, highway MLPs keep training.

The lecture: "the Highway network determines the layers it needs". A highway layer computes
y = T(x) * H(x) + (1 - T(x)) * x; with a negative transform-gate bias it starts close to the identity,
so a 100-layer stack still passes signal and gradient.

The experiment follows Srivastava et al.'s Fig. 1 on the UCI digits (1,437 training images): plain
ReLU MLPs (He init) and highway MLPs of width 50 at 10, 50 and 100 layers, each network trained by
SGD with momentum 0.9 (the rate rising from zero over 2 epochs, then decayed to zero by a cosine
schedule) at every learning rate of its family's grid (two rates a decade apart that hold each
family's best rates), and shown at its best rate (the lowest final training loss), as the paper
shows each net at its best hyperparameters. The
number compared is the training accuracy at the end, measured in inference mode on the whole
training set -- the paper's point is optimisation, not generalisation. Then the deepest highway
net's transform-gate activity T(x) per layer on held-out digits (the paper's Fig. 2): most layers
stay close to their initial, nearly closed gate and carry their input; a few open up -- the layers
the network uses.

Over 3 seeds: about 8 min of CPU time (6 nets x 2 rates x 40 epochs per seed; the 100-layer nets
cost most), seeds running side by side on the cores there are.

Reference: Srivastava, Greff, Schmidhuber. "Training Very Deep Networks." NeurIPS 2015, Fig. 1 and 2.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from kzoo import create_model
from kzoo.lab._common import seed_everything, write_results

LESSON = "highway"
CLAIM = ("Each at its best learning rate, highway MLPs reach at least 99% training accuracy at 50 and "
         "100 layers, where plain MLPs of the same depth stay below 90% (at 10 layers both train).")
PAPER = "Srivastava, Greff, Schmidhuber 2015, Training Very Deep Networks, Fig. 1-2"
SEEDS = (0, 1, 2)
KINDS = ("plain", "highway")
# Each family's grid holds its best rates: on a 5-point grid 0.003-0.3 (seed 0), every plain net was
# best at 0.003 or 0.03 and diverged at 0.3, every highway net was best at 0.3 and worst at 0.003.
LEARNING_RATES = {"plain": (0.003, 0.03), "highway": (0.03, 0.3)}
NEAR_PERFECT, PLAIN_FAILS = 0.99, 0.90


def digits_arrays():
    """UCI digits (8x8x1) as float32 in [0, 1]: (x_train, y_train, x_test, y_test)."""
    from kzoo.data import load_arrays

    a = load_arrays("digits")
    return (a["x_train"].astype("float32") / 16.0, a["y_train"],
            a["x_test"].astype("float32") / 16.0, a["y_test"])


def _build(kind, depth, width, shape, transform_bias_init):
    if kind == "plain":
        return create_model("plain_mlp", depth=depth, width=width, activation="relu",
                            input_shape=shape, classes=10)
    return create_model("highway_mlp", depth=depth, width=width, activation="relu",
                        transform_bias_init=transform_bias_init, input_shape=shape, classes=10)


def gate_activity(model, x) -> list[float]:
    """Mean transform-gate value T(x) of each highway layer `highway_i` over the examples `x`."""
    names = sorted((layer.name for layer in model.layers if layer.name.startswith("highway_")),
                   key=lambda n: int(n.split("_")[1]))
    # The input of highway_i is the output of the layer before it (proj_act, then highway_{i-1}).
    inputs_of = ["proj_act"] + names[:-1]
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in inputs_of])
    hidden = probe(x, training=False)
    return [float(np.mean(keras.ops.convert_to_numpy(model.get_layer(n).transform_gate(h))))
            for n, h in zip(names, hidden, strict=True)]


def _train(kind, depth, lr, *, x, y, width, epochs, batch_size, seed, transform_bias_init,
           warmup_epochs):
    """Train one net; return (model, per-epoch training loss, final training accuracy and loss)."""
    seed_everything(seed)
    model = _build(kind, depth, width, x.shape[1:], transform_bias_init)
    # The rate rises linearly from zero over the first epochs, then decays to zero by a cosine
    # (Srivastava et al. decayed theirs exponentially): the largest rates neither blow up in the
    # first steps, whose outcome then hangs on the CPU's rounding, nor end the run on a spike.
    per_epoch = math.ceil(len(x) / batch_size)
    warmup = min(warmup_epochs, epochs - 1) * per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=epochs * per_epoch - warmup, warmup_target=lr, warmup_steps=warmup)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                     callbacks=[keras.callbacks.TerminateOnNaN()])
    losses = [float(v) if math.isfinite(v) else None for v in hist.history["loss"]]
    losses += [None] * (epochs - len(losses))
    if losses[-1] is None:  # diverged: counts as never trained
        return model, losses, 0.0, math.inf
    loss, acc = model.evaluate(x, y, verbose=0, batch_size=512)
    return model, losses, float(acc), float(loss) if math.isfinite(loss) else math.inf


def run(out_dir, *, seed=0, smoke=False, depths=None, width=50, epochs=None, learning_rates=None,
        batch_size=256, transform_bias_init=-4.0, warmup_epochs=2) -> dict:
    """Train plain and highway MLPs at each depth and learning rate; write highway.png / .json.

    Args:
        out_dir: output directory.
        seed: random seed (weights, batch order), the same for every network.
        smoke: a tiny configuration (depths 5 and 10, one rate, 2 epochs).
        depths: hidden-layer counts (default 10, 50, 100; the claim is read at every depth >= 50).
        width: units per hidden layer.
        epochs: training epochs (default 40; smoke 2).
        learning_rates: initial SGD learning rates (momentum 0.9, cosine decay to zero) per family
            (default `LEARNING_RATES`), or one tuple for both; each network is reported at its best.
        batch_size: minibatch size.
        warmup_epochs: epochs over which the rate rises linearly from zero to its initial value.
        transform_bias_init: initial transform-gate bias. Srivastava et al. advise more negative
            values for deeper nets; -4 starts every layer with T = 0.018, close to the identity.

    Returns:
        `train_accuracy[kind_depth]` and `best_lr[kind_depth]` (at the best rate), `grid` (final
        training loss of every run), `curves` (per-epoch training loss at the best rate), the deepest
        highway net's `gate_activity` per layer, `seconds`, `claim_holds` and a `conclusion`.

    Example:
        >>> result = run("runs/lab", seed=0)
        >>> result["train_accuracy"]["highway_100"] >= 0.99 > 0.9 > result["train_accuracy"]["plain_100"]
        True
    """
    depths = sorted(depths or ((5, 10) if smoke else (10, 50, 100)))
    epochs = epochs or (2 if smoke else 40)
    learning_rates = learning_rates or ({"plain": (0.1,), "highway": (0.1,)} if smoke
                                        else LEARNING_RATES)
    if not isinstance(learning_rates, dict):
        learning_rates = {kind: tuple(learning_rates) for kind in KINDS}
    learning_rates = {kind: [float(lr) for lr in learning_rates[kind]] for kind in KINDS}
    x, y, x_test, _ = digits_arrays()
    grid, curves, final, best_lr, seconds = {}, {}, {}, {}, {}
    gates = None
    for kind in KINDS:
        for depth in depths:
            key = f"{kind}_{depth}"
            start = time.perf_counter()
            grid[key], best = {}, None
            for lr in learning_rates[kind]:
                model, losses, acc, loss = _train(
                    kind, depth, lr, x=x, y=y, width=width, epochs=epochs, batch_size=batch_size,
                    seed=seed, transform_bias_init=transform_bias_init,
                    warmup_epochs=warmup_epochs)
                grid[key][str(lr)] = {"loss": loss, "accuracy": acc}
                if best is None or loss < best[0]:
                    best = (loss, lr, acc, losses)
                    if kind == "highway" and depth == depths[-1]:
                        gates = gate_activity(model, x_test[:256])
                keras.backend.clear_session()
            _, best_lr[key], final[key], curves[key] = best
            seconds[key] = time.perf_counter() - start

    deep = [d for d in depths if d >= 50] or depths[-1:]
    claim = all(final[f"highway_{d}"] >= NEAR_PERFECT and final[f"plain_{d}"] < PLAIN_FAILS
                for d in deep)
    conclusion = "; ".join(
        f"{d} layers: highway {final[f'highway_{d}']:.1%} (lr {best_lr[f'highway_{d}']:g}), "
        f"plain {final[f'plain_{d}']:.1%} (lr {best_lr[f'plain_{d}']:g})" for d in depths
    ) + (f" -- training accuracy, each net at its best rate; the {depths[-1]}-layer highway net's "
         f"gates T range {min(gates):.3f}-{max(gates):.3f} over its layers")
    numbers = dict(depths=depths, width=width, epochs=epochs, learning_rates=learning_rates,
                   batch_size=batch_size, warmup_epochs=warmup_epochs,
                   transform_bias_init=transform_bias_init,
                   train_accuracy=final, best_lr=best_lr, grid=grid, curves=curves,
                   gate_activity=gates, seconds=seconds, claim_holds=bool(claim),
                   conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure([numbers]), smoke=smoke)


def headline(result) -> dict:
    """Training accuracy (%) of the plain and highway nets at the deepest two depths."""
    acc = result["train_accuracy"]
    return {f"{kind} {d} layers, training accuracy (%)": 100 * acc[f"{kind}_{d}"]
            for d in result["depths"][-2:] for kind in KINDS}


def figure_over_seeds(results):
    """Every seed drawn: accuracy per depth as points, loss curves and gates as mean and range."""
    return _figure(results)


def _band(ax, x, rows, color, label, style="-"):
    values = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
    ax.plot(x, mean, style, color=color, label=label)
    if len(rows) > 1:
        ax.fill_between(x, np.nanmin(values, axis=0), np.nanmax(values, axis=0), color=color,
                        alpha=0.2, lw=0)


def _figure(results):
    import matplotlib.pyplot as plt

    n = results[0]
    depths, seeds = n["depths"], len(results)
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
    colors = {"plain": "tab:red", "highway": "tab:blue"}
    for kind in KINDS:
        for i, r in enumerate(results):
            ax1.plot(depths, [100 * r["train_accuracy"][f"{kind}_{d}"] for d in depths], "o",
                     color=colors[kind], alpha=0.6, label=f"{kind} (each seed)" if i == 0 else None)
        ax1.plot(depths, [100 * np.mean([r["train_accuracy"][f"{kind}_{d}"] for r in results])
                          for d in depths], "-", color=colors[kind], label=f"{kind}, mean")
    ax1.axhline(100 * NEAR_PERFECT, color="0.5", ls=":", lw=1)
    ax1.set(xlabel="hidden layers", ylabel="final training accuracy (%)", ylim=(0, 102),
            xticks=depths, title="each net at its best learning rate")
    ax1.legend(fontsize=8)
    epochs = np.arange(1, n["epochs"] + 1)
    styles = dict(zip(depths, (":", "--", "-", "-."), strict=False))
    for kind in KINDS:
        for d in depths:
            _band(ax2, epochs, [r["curves"][f"{kind}_{d}"] for r in results], colors[kind],
                  f"{kind}, {d} layers", styles[d])
    ax2.set_yscale("log")
    ax2.set(xlabel="epoch", ylabel="training loss (log scale)",
            title="training loss at the best rate (mean, band: min-max over seeds)")
    ax2.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax2.legend(fontsize=7, ncol=2)
    layers = np.arange(1, len(n["gate_activity"]) + 1)
    _band(ax3, layers, [r["gate_activity"] for r in results], "tab:green", "mean T(x)")
    b = n["transform_bias_init"]
    ax3.axhline(1 / (1 + np.exp(-b)), color="grey", ls=":", label=f"initial T = sigmoid({b:g})")
    ax3.set(xlabel="highway layer", ylabel="mean transform gate T(x), held-out digits",
            title=f"{depths[-1]}-layer highway net: the layers it uses")
    ax3.legend(fontsize=8)
    for ax in (ax1, ax2, ax3):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Highway vs plain MLPs on UCI digits: width {n['width']}, SGD momentum 0.9, "
                 f"{n.get('warmup_epochs', 0)}-epoch warmup, cosine decay, "
                 f"best of lr {' / '.join(map(str, n['learning_rates']['plain']))} (plain), "
                 f"{' / '.join(map(str, n['learning_rates']['highway']))} (highway), {n['epochs']} epochs, "
                 f"batch {n['batch_size']}; {seeds} seed{'s' * (seeds > 1)}", fontsize=10)
    return fig
