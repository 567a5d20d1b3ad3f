"""Lesson 6 -- Highway networks: plain MLPs stop training as depth grows, highway MLPs keep training.

The lecture: "the Highway network determines the layers it needs". A highway layer computes
y = T(x) * H(x) + (1 - T(x)) * x; with a negative transform-gate bias it starts close to the identity,
so a 50-layer stack still passes signal and gradient. We train plain ReLU MLPs (He init) and highway
MLPs of the same depths with the same optimiser on the UCI digits, then read each highway layer's mean
transform-gate activity T(x) on held-out digits: the layers the network "uses" are those with larger T.

Reference: Srivastava, Greff, Schmidhuber. "Training Very Deep Networks." NeurIPS 2015, Fig. 1 and 2.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from kzoo import create_model
from kzoo.lab._common import seed_everything, write_results

LESSON = "highway"


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


def run(out_dir, *, seed=0, smoke=False, depths=None, width=50, epochs=None, learning_rate=0.01,
        batch_size=64, transform_bias_init=-4.0) -> dict:
    """Train plain and highway MLPs at each depth; write highway.png / highway.json.

    Args:
        out_dir: output directory.
        seed: random seed (weights, batch order).
        smoke: a tiny configuration (depth 50 only, 6 epochs).
        depths: hidden-layer counts to compare (default 5, 20, 50; the claim is read at the deepest).
        width: units per hidden layer.
        epochs: training epochs (default 15; smoke 6).
        learning_rate: SGD learning rate (momentum 0.9), the same for every network.
        batch_size: minibatch size.
        transform_bias_init: initial transform-gate bias. Srivastava et al. advise more negative
            values for deeper nets; at 50 layers on digits -2 leaves the forward signal shrinking
            about 10x (each layer mixes 0.88 x with 0.12 H(x)) and the net barely moves in a few
            epochs, while -4 trains.

    Returns:
        The numbers: final training accuracy per (kind, depth), curves, the deepest highway net's
        gate activity per layer, `claim_holds` and a one-line `conclusion`.
    """
    depths = list(depths or ((50,) if smoke else (5, 20, 50)))
    epochs = epochs or (6 if smoke else 15)
    x, y, x_test, _ = digits_arrays()
    curves, final, seconds = {}, {}, {}
    gates = None
    for kind in ("plain", "highway"):
        for depth in depths:
            seed_everything(seed)
            model = _build(kind, depth, width, x.shape[1:], transform_bias_init)
            model.compile(keras.optimizers.SGD(learning_rate, momentum=0.9),
                          "sparse_categorical_crossentropy", metrics=["accuracy"])
            start = time.perf_counter()
            hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
            seconds[f"{kind}_{depth}"] = time.perf_counter() - start
            key = f"{kind}_{depth}"
            curves[key] = [float(v) for v in hist.history["accuracy"]]
            # Final training accuracy measured in inference mode on the whole training set.
            final[key] = float(model.evaluate(x, y, verbose=0, batch_size=512)[1])
            if kind == "highway" and depth == max(depths):
                gates = gate_activity(model, x_test[:256])

    deep = max(depths)
    plain_acc, highway_acc = final[f"plain_{deep}"], final[f"highway_{deep}"]
    margin = highway_acc - plain_acc
    claim = margin >= 0.2
    conclusion = (
        f"at {deep} layers the highway MLP reaches {highway_acc:.0%} training accuracy, "
        f"the plain MLP {plain_acc:.0%}; gate activity T ranges {min(gates):.2f}-{max(gates):.2f} "
        f"over its layers"
    )
    numbers = dict(depths=depths, width=width, epochs=epochs, learning_rate=learning_rate,
                   transform_bias_init=transform_bias_init,
                   train_accuracy=final, curves=curves, gate_activity=gates,
                   seconds=seconds, margin=margin, claim_holds=bool(claim), conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _figure(n):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(n["depths"])))
    for depth, c in zip(n["depths"], colors, strict=True):
        epochs = np.arange(1, n["epochs"] + 1)
        ax1.plot(epochs, n["curves"][f"plain_{depth}"], "--", color=c, label=f"plain, {depth} layers")
        ax1.plot(epochs, n["curves"][f"highway_{depth}"], "-", color=c,
                 label=f"highway, {depth} layers")
    ax1.set(xlabel="epoch", ylabel="training accuracy (fraction)", ylim=(0, 1.02),
            title="Deep plain MLPs stop training; highway MLPs do not")
    ax1.legend(fontsize=8)
    gates = n["gate_activity"]
    ax2.bar(np.arange(1, len(gates) + 1), gates, color="tab:green")
    b = n["transform_bias_init"]
    ax2.axhline(1 / (1 + np.exp(-b)), color="grey", ls=":", label=f"initial T = sigmoid({b:g})")
    ax2.set(xlabel="highway layer", ylabel="mean transform gate T(x)",
            title=f"{max(n['depths'])}-layer highway net: which layers it uses")
    ax2.legend(fontsize=8)
    fig.suptitle("UCI digits, SGD momentum 0.9, lr "
                 f"{n['learning_rate']}, width {n['width']}", fontsize=9)
    fig.tight_layout()
    return fig
