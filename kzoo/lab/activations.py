"""Lesson: activation functions -- saturating units train deep nets slowly.

The lecture: sigmoid (and to a lesser degree tanh) saturate and "kill" gradients, so deep stacks of
them learn slowly; the ReLU family (ReLU, leaky ReLU, PReLU), ELU, SELU and Maxout do not
saturate for positive inputs and converge much faster.

The experiment: one MLP shape -- `depth` hidden layers of `width` units on MNIST-1D -- with each
activation and its customary initialisation (kzoo's `DEFAULT_INIT`: Glorot for sigmoid / tanh /
maxout, He for the ReLU family and ELU, LeCun normal for SELU), trained with the same optimiser,
batch size and number of epochs; learning curves of the training loss. Maxout units have 2
pieces each, so their weight layers are twice as wide (the same number of units, 2x the weights).
Eight epochs show it: sigmoid has barely left chance (ln 10 = 2.30 nats) for most of them, while
every non-saturating unit is far below. Over its 3 seeds the lesson takes about 75 s on 2 CPU cores.

Reference: Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
networks", AISTATS 2010 (sigmoid saturation, Fig. 2); Glorot, Bordes & Bengio, "Deep Sparse
Rectifier Neural Networks", AISTATS 2011.
"""

from __future__ import annotations

import keras
import numpy as np

import kzoo
from kzoo.lab._common import flat_training_arrays, seed_everything, write_results

LESSON = "activations"
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "maxout")
NON_SATURATING = ("relu", "leaky_relu", "prelu", "elu", "selu", "maxout")
CLAIM = ("Saturating sigmoid units train a deep (8 x 64) MLP slowly: after 8 epochs every "
         "non-saturating unit (ReLU, leaky ReLU, PReLU, ELU, SELU, Maxout) has a training loss at "
         "least 0.3 nats below sigmoid's.")
PAPER = "Glorot & Bengio 2010, Fig. 2; Glorot, Bordes & Bengio 2011"
SEEDS = (0, 1, 2)


def run(out_dir, *, seed=0, smoke=False, depth=8, width=64, epochs=None, activations=ACTIVATIONS,
        dataset="mnist1d", learning_rate=1e-3, batch_size=64, margin=0.3) -> dict:
    """Train one MLP per activation; return the training-loss curves and the comparison.

    `claim_holds` is True when every non-saturating activation that ran ends with a training loss
    at least `margin` (nats) below sigmoid's after the same number of epochs.
    """
    unknown = [a for a in activations if a not in ACTIVATIONS]
    if unknown or "sigmoid" not in activations:
        raise ValueError(f"`activations` must include 'sigmoid' and come from {ACTIVATIONS}; "
                         f"received activations={tuple(activations)!r}.")
    epochs = (4 if smoke else 8) if epochs is None else epochs
    x, y = flat_training_arrays(dataset, limit=1000 if smoke else None)
    classes = int(y.max()) + 1
    curves, params = {}, {}
    for act in activations:
        seed_everything(seed)
        model = kzoo.create_model("plain_mlp", depth=depth, width=width, activation=act,
                                  input_shape=x.shape[1:], classes=classes)
        model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=False)
        hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
        curves[act] = {"loss": [float(v) for v in hist.history["loss"]],
                       "accuracy": [float(v) for v in hist.history["accuracy"]]}
        params[act] = int(model.count_params())
        keras.backend.clear_session()

    final = {a: c["loss"][-1] for a, c in curves.items()}
    fast = [a for a in activations if a in NON_SATURATING]
    gap = {a: final["sigmoid"] - final[a] for a in fast}
    worst = min(gap, key=gap.get) if gap else None
    claim = bool(gap) and all(g >= margin for g in gap.values())
    ranking = sorted(final, key=final.get)
    conclusion = (
        f"After {epochs} epochs of a {depth}x{width} MLP, training loss: "
        + ", ".join(f"{a} {final[a]:.2f}" for a in ranking)
        + (f"; the slowest non-saturating unit ({worst}) is {gap[worst]:.2f} nats below sigmoid."
           if worst else ".")
    )
    numbers = dict(depth=depth, width=width, epochs=epochs, dataset=dataset, seed=seed,
                   learning_rate=learning_rate, curves=curves, final_train_loss=final,
                   gap_to_sigmoid=gap, parameters=params, conclusion=conclusion,
                   claim_holds=claim)
    return write_results(out_dir, LESSON, numbers, _figure(curves, depth, width), smoke=smoke)


def headline(result) -> dict:
    """Sigmoid's final training loss, the slowest non-saturating unit's, and the gap between."""
    final, gap = result["final_train_loss"], result["gap_to_sigmoid"]
    numbers = {"final training loss, sigmoid (nats)": final["sigmoid"]}
    if "tanh" in final:
        numbers["final training loss, tanh (nats)"] = final["tanh"]
    if gap:
        worst = min(gap, key=gap.get)
        numbers["final training loss, slowest non-saturating unit (nats)"] = final[worst]
        numbers["sigmoid minus slowest non-saturating unit (nats)"] = gap[worst]
    return numbers


def figure_over_seeds(results):
    """Every activation's learning curves over the seeds: the mean, and a band from min to max."""
    curves = {a: {key: np.array([r["curves"][a][key] for r in results])
                  for key in ("loss", "accuracy")} for a in results[0]["curves"]}
    first = results[0]
    return _figure(curves, first["depth"], first["width"],
                   note=f"; {len(results)} seeds, band min-max")


def _figure(curves, depth, width, note=""):
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    styles = {"sigmoid": ("k", "-"), "tanh": ("0.5", "-")}
    colors = iter(("tab:blue", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                   "tab:olive", "tab:cyan"))
    for act, c in curves.items():
        color, ls = styles.get(act, (next(colors), "--"))
        for a, key in ((ax, "loss"), (ax2, "accuracy")):
            values = np.atleast_2d(np.asarray(c[key]))  # one row per seed
            epochs = np.arange(1, values.shape[1] + 1)
            a.plot(epochs, values.mean(0), ls, color=color, marker=".", label=act)
            if len(values) > 1:
                a.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.15)
    ax.set_yscale("log")
    ax.set_ylabel("training cross-entropy (nats, log scale)")
    ax2.set_ylabel("training accuracy")
    for a in (ax, ax2):
        a.set_xlabel("epoch")
        a.xaxis.get_major_locator().set_params(integer=True)
        a.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.suptitle(f"Activations: in a {depth}-layer x {width}-unit MLP (MNIST-1D{note}) the "
                 "saturating sigmoid learns slowest; ReLU family, ELU, SELU, Maxout are fast")
    return fig
