"""Lesson: vanishing gradients -- in a deep sigmoid MLP the first layers barely learn.

The lecture: backpropagation multiplies one sigmoid derivative (at most 1/4) per layer, so the
loss gradient reaching the first layers of a deep sigmoid network is orders of magnitude smaller
than at the last layers; ReLU units (derivative 1 where active) with He initialisation keep the
gradient norm roughly level across depth.

The experiment: two 20-layer MLPs on MNIST-1D -- sigmoid units with Glorot weights and ReLU units
with He weights -- and the L2 norm of the loss gradient with respect to each hidden Dense layer's
weights (`kzoo.training.diagnostics.layer_diagnostics`) on a fixed probe batch, at initialisation
and after a few epochs of Adam.

Over its 4 seeds (different probe batch, weights and data order) the lesson takes about 40 s on 2
CPU cores; most of it is tracing each network's training step once.

Reference: Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural
networks (Fig. 7, back-propagated gradients per layer); He et al. 2015, Delving deep into rectifiers
(Sec. 2.2, He initialisation).
"""

from __future__ import annotations

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results
from kzoo.training.diagnostics import layer_diagnostics

LESSON = "vanishing_gradients"
CLAIM = ("In a 20-layer sigmoid MLP with Glorot weights the loss gradient reaching the first hidden "
         "layer is at least 10^6 times smaller than at the last, at initialisation and still after "
         "5 epochs of Adam; with ReLU units and He weights that ratio stays below 20.")
PAPER = "Glorot & Bengio 2010, Fig. 7; He et al. 2015, Sec. 2.2"
SEEDS = (0, 1, 2, 3)  # two traced training steps per seed: 5 seeds would overrun 45 s
VANISHED = 1e6  # sigmoid last/first-layer gradient ratio the claim demands (seeds 0-4: ~1e11-1e12)
LEVEL = 20.0  # ReLU + He ratio the claim allows (seeds 0-4: ~1-7)
NETS = {"sigmoid": "glorot_uniform", "relu": "he_normal"}
BATCH = 64


def _arrays(dataset):
    a = kzoo.data.load_arrays(dataset)
    x_train = a["x_train"].reshape(len(a["x_train"]), -1).astype("float32")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-7
    return (x_train - mean) / std, a["y_train"], int(a["y_train"].max()) + 1


def dense_grad_norms(model, x, y, depth):
    """Gradient norm of each hidden Dense layer `dense_1 ... dense_depth`, in depth order."""
    loss = keras.losses.SparseCategoricalCrossentropy()
    rows = {r["name"]: r["grad_norm"] for r in layer_diagnostics(model, x, y, loss_fn=loss)}
    return [rows[f"dense_{i}"] for i in range(1, depth + 1)]


def run(out_dir, *, seed=0, smoke=False, depth=20, width=64, epochs=None, dataset="mnist1d",
        probe_size=512, learning_rate=1e-3) -> dict:
    """Per-layer gradient norms of a deep sigmoid MLP and a deep ReLU MLP, before/after training.

    Returns `grad_norms[net][stage]` (lists over layers 1 ... depth, stage "init" / "trained"),
    `ratio[net][stage]` = last-layer / first-layer gradient norm, final training losses, a
    `conclusion` and `claim_holds` (sigmoid ratio >= VANISHED at init and after training, ReLU
    ratio <= LEVEL at both).
    """
    epochs = (1 if smoke else 5) if epochs is None else epochs
    x, y, classes = _arrays(dataset)
    # A whole number of batches: a partial last batch would trace the training step a second time,
    # which costs more than the epochs themselves.
    keep = 256 if smoke else len(x) // BATCH * BATCH
    x, y = x[:keep], y[:keep]
    rng = np.random.default_rng(seed)
    probe = rng.choice(len(x), size=min(probe_size, len(x)), replace=False)
    xp, yp = x[probe], y[probe]

    grad_norms, ratio, final_loss = {}, {}, {}
    for act, init in NETS.items():
        seed_everything(seed)
        model = kzoo.create_model("plain_mlp", depth=depth, width=width, activation=act, init=init,
                                  input_shape=x.shape[1:], classes=classes)
        model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                      jit_compile=False, run_eagerly=smoke)
        grad_norms[act] = {"init": dense_grad_norms(model, xp, yp, depth)}
        hist = model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=True)
        final_loss[act] = float(hist.history["loss"][-1])
        grad_norms[act]["trained"] = dense_grad_norms(model, xp, yp, depth)
        ratio[act] = {s: g[-1] / g[0] for s, g in grad_norms[act].items()}
        keras.backend.clear_session()

    sig, rel = ratio["sigmoid"]["init"], ratio["relu"]["init"]
    claim = all(ratio["sigmoid"][s] >= VANISHED and ratio["relu"][s] <= LEVEL
                for s in ("init", "trained"))
    conclusion = (
        f"At initialisation the first layer of the {depth}-layer sigmoid MLP gets a gradient "
        f"{sig:.1e}x smaller than its last layer (ReLU + He: {rel:.1f}x); after {epochs} epochs "
        f"{ratio['sigmoid']['trained']:.1e}x vs {ratio['relu']['trained']:.1f}x, and the sigmoid "
        f"net's training loss is {final_loss['sigmoid']:.2f} vs {final_loss['relu']:.2f}."
    )
    numbers = dict(depth=depth, width=width, epochs=epochs, dataset=dataset, seed=seed,
                   grad_norms=grad_norms, ratio=ratio, final_train_loss=final_loss,
                   conclusion=conclusion, claim_holds=bool(claim))
    return write_results(out_dir, LESSON, numbers, _figure(grad_norms, depth, epochs), smoke=smoke)


def headline(result) -> dict:
    """The last/first-layer gradient ratios of both nets, at initialisation and after training."""
    r, e = result["ratio"], result["epochs"]
    return {
        "sigmoid last/first-layer gradient ratio at init": r["sigmoid"]["init"],
        f"sigmoid last/first-layer gradient ratio after {e} epochs": r["sigmoid"]["trained"],
        "ReLU + He last/first-layer gradient ratio at init": r["relu"]["init"],
        f"ReLU + He last/first-layer gradient ratio after {e} epochs": r["relu"]["trained"],
    }


def figure_over_seeds(results):
    """Per-layer gradient norms over seeds: geometric mean with a min-max band, per net and stage."""
    import matplotlib.pyplot as plt

    depth, epochs = results[0]["depth"], results[0]["epochs"]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    layers = np.arange(1, depth + 1)
    for act in NETS:
        for stage, style, alpha in (("init", "o-", 1.0), ("trained", "s--", 0.6)):
            norms = np.array([r["grad_norms"][act][stage] for r in results])
            when = "init" if stage == "init" else f"after {epochs} epochs"
            ax.plot(layers, np.exp(np.log(norms).mean(axis=0)), style, color=COLORS[act],
                    alpha=alpha, label=f"{LABELS[act]} ({when})")
            ax.fill_between(layers, norms.min(axis=0), norms.max(axis=0), color=COLORS[act],
                            alpha=0.15 * alpha)
    _style(ax, depth, f"{len(results)} seeds: geometric mean, band = min-max over seeds")
    return fig


COLORS = {"sigmoid": "tab:red", "relu": "tab:blue"}
LABELS = {"sigmoid": "sigmoid, Glorot init", "relu": "ReLU, He init"}


def _style(ax, depth, note):
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, depth + 1))
    ax.set_xlabel("hidden layer (1 = next to the input)")
    ax.set_ylabel("L2 norm of dLoss/dW of the layer (log scale)")
    ax.set_title(f"Vanishing gradients: in a {depth}-layer sigmoid MLP the first layers\n"
                 f"get orders of magnitude less gradient; ReLU + He init keeps it level ({note})",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


def _figure(grad_norms, depth, epochs):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    layers = np.arange(1, depth + 1)
    for act, stages in grad_norms.items():
        ax.plot(layers, stages["init"], "o-", color=COLORS[act], label=f"{LABELS[act]} (init)")
        ax.plot(layers, stages["trained"], "s--", color=COLORS[act], alpha=0.6,
                label=f"{LABELS[act]} (after {epochs} epochs)")
    _style(ax, depth, "one seed")
    return fig
