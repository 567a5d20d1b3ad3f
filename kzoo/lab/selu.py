"""Lesson 5 -- SELU self-normalisation: activations of a deep SNN stay at mean 0, variance 1.

The lecture (Klambauer et al. 2017): with SELU units (lambda = 1.0507, alpha = 1.6733) and weights of
variance 1/fan_in, a layer maps inputs of mean 0 and variance 1 to outputs of mean 0 and variance 1,
and that fixed point attracts -- so the statistics stay put through arbitrarily many layers without
batch norm, and deep SNNs train without it.

The experiment, part 1 (at initialisation): `draws` independently initialised 48-layer MLPs of width
256 of each kind (ReLU + LeCun: 3, its collapse is the same every draw), fed N(0, 1) inputs of the
digits' dimension 64, and the mean and variance of each
hidden layer's activations over all examples and units (`kzoo.models.snn.self_normalization_report`):
- SNN: `snn_mlp` (SELU, LeCun normal, no dropout);
- ReLU + He: `plain_mlp` with ReLU and He normal weights, no BN -- the customary ReLU init. He's
  factor 2 keeps the second moment E[a^2] at about 1 *on average*, but post-ReLU activations have a
  positive mean (about 0.5) and nothing pulls their variance back: with finite width it wanders
  multiplicatively from layer to layer, so at layer 32 it lands anywhere between about 0.1 and 2
  depending on the draw;
- ReLU + LeCun: the SNN's weight scale with ReLU units -- the variance halves per layer.
The claim is read at layer `probe_layer` (32): every SNN draw has variance in [0.8, 1.2], and at
least half of the ReLU + He draws fall outside that band (a single ReLU draw lands inside by chance
about 1 time in 5, so 6 or more of 10 inside has odds of about 0.6%). Both the fraction and the
spread over draws are reported.

Part 2 (training): a `train_depth`-layer SNN and ReLU + He MLP on the standardised UCI digits,
plain SGD at each learning rate of a small grid for the same epochs; each net's best final training
loss (its best learning rate; a diverged run counts as infinite). The claim: the SNN's is at least
10 times lower.

Each seed draws its own initialisations (draw k of seed s uses seed 1000 s + k) and its own training
run. Over its 3 seeds the lesson takes about 80 s on 2 CPU cores.

Reference: Klambauer, Unterthiner, Mayr, Hochreiter. "Self-Normalizing Neural Networks."
NeurIPS 2017 (arXiv:1706.02515), Section 3 and Fig. 1.
"""

from __future__ import annotations

import math

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results
from kzoo.layers._validation import check_positive_int
from kzoo.models.snn import self_normalization_report

LESSON = "selu"
CLAIM = ("At initialisation every 48-layer SELU network (LeCun normal weights) keeps its "
         "activation variance at layer 32 within 0.8-1.2 while at least half of the ReLU + He "
         "networks leave that band, and trained 32 layers deep with SGD for 5 epochs the SNN "
         "reaches a training loss at least 10 times lower than the ReLU net (each at its best "
         "rate of three).")
PAPER = "Klambauer et al. 2017, Self-Normalizing Neural Networks, Section 3 and Fig. 1"
SEEDS = (0, 1, 2)
LECUN_DRAWS = 3
RATIO = 10.0
BAND = (0.8, 1.2)
NETS = {
    "snn": "SNN: SELU + LeCun normal",
    "relu_he": "ReLU + He normal, no BN",
    "relu_lecun": "ReLU + LeCun normal, no BN",
}
TRAINED = ("snn", "relu_he")
LEARNING_RATES = (0.003, 0.01, 0.03)


def _build(net, depth, width, input_dim, classes):
    if net == "snn":
        return kzoo.create_model("snn_mlp", depth=depth, width=width, dropout=0.0,
                                 input_shape=(input_dim,), classes=classes)
    init = {"relu_he": "he_normal", "relu_lecun": "lecun_normal"}[net]
    return kzoo.create_model("plain_mlp", depth=depth, width=width, activation="relu", init=init,
                             input_shape=(input_dim,), classes=classes)


def init_statistics(depth, width, draws, *, input_dim=64, n=1024, seed=0) -> dict:
    """Per-layer activation mean and variance of `draws` fresh networks of each kind in `NETS`
    (of ReLU + LeCun at most `LECUN_DRAWS`).

    Returns {net: {"mean": [[per layer] per draw], "variance": [[per layer] per draw]}}; draw k
    uses seed `1000 * seed + k` for both the weights and the N(0, 1) inputs, so seeds never share
    draws.
    """
    stats = {}
    for net in NETS:
        stats[net] = {"mean": [], "variance": []}
        for k in range(min(draws, LECUN_DRAWS) if net == "relu_lecun" else draws):
            draw_seed = 1000 * seed + k
            seed_everything(draw_seed)
            model = _build(net, depth, width, input_dim, classes=10)
            rows = self_normalization_report(model, n=n, seed=draw_seed)
            stats[net]["mean"].append([r["mean"] for r in rows])
            stats[net]["variance"].append([r["variance"] for r in rows])
            keras.backend.clear_session()
    return stats


def _digits():
    a = kzoo.data.load_arrays("digits")
    x = a["x_train"].reshape(len(a["x_train"]), -1).astype("float32")
    xt = a["x_test"].reshape(len(a["x_test"]), -1).astype("float32")
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
    return (x - mean) / std, a["y_train"], (xt - mean) / std, a["y_test"]


def _finite(v):
    return None if math.isnan(v) or math.isinf(v) else float(v)


def train_deep(depth, width, learning_rates, epochs, *, seed=0, batch_size=64) -> dict:
    """Train each net of `TRAINED` on digits with SGD at each learning rate.

    Returns {net: {lr: {"loss": per-epoch training loss (None once diverged), "final_loss",
    "train_accuracy", "test_accuracy"}}}; final numbers are measured after training on the whole
    set (no BN or dropout, so inference mode computes the same function as training).
    """
    x, y, xt, yt = _digits()
    runs = {}
    for net in TRAINED:
        runs[net] = {}
        for lr in learning_rates:
            seed_everything(seed)
            model = _build(net, depth, width, x.shape[1], classes=10)
            model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                          metrics=["accuracy"], jit_compile=False)
            hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
            loss, acc = model.evaluate(x, y, verbose=0, batch_size=512)
            test_acc = model.evaluate(xt, yt, verbose=0, batch_size=512)[1]
            runs[net][str(lr)] = {"loss": [_finite(v) for v in hist.history["loss"]],
                                  "final_loss": _finite(loss), "train_accuracy": float(acc),
                                  "test_accuracy": float(test_acc)}
            keras.backend.clear_session()
    return runs


def _loss_text(loss):
    return "diverged" if loss is None else f"{loss:.3g}"


def _best(runs):
    """(lr, run) with the lowest final training loss; diverged runs count as infinite."""
    return min(runs.items(), key=lambda kv: math.inf if kv[1]["final_loss"] is None
               else kv[1]["final_loss"])


def run(out_dir, *, seed=0, smoke=False, depth=None, width=256, draws=None, probe_layer=32,
        train_depth=None, epochs=None, learning_rates=None, n=1024) -> dict:
    """Activation statistics at init across depth, then training of a deep SNN vs a ReLU MLP.

    Args:
        out_dir: output directory for selu.png / selu.json.
        seed: random seed (draw k of the init study uses 1000 seed + k; training uses seed).
        smoke: a seconds-long configuration (depth 32, 2 draws, train depth 8, 2 epochs at lr
            0.01); its numbers are not evidence.
        depth: hidden layers of the init study (default 48; smoke 32); at least `probe_layer`.
        width: units per hidden layer, in both parts.
        draws: independent initialisations per kind (default 10; smoke 2).
        probe_layer: the layer at which the claim is read.
        train_depth: hidden layers of the trained nets (default 32; smoke 8).
        epochs: training epochs (default 5: the SNN has converged, the ReLU net is
            still near 1 nat; smoke 2).
        learning_rates: SGD learning rates tried for each trained net (default 0.003 0.01 0.03;
            smoke 0.01).
        n: number of N(0, 1) inputs of the init study (each layer's variance is taken over n x
            width values).

    Returns:
        `init` (per-kind mean / variance per draw and layer), `at_probe` (per kind: variance range
        and median, mean median, fraction of draws in [0.8, 1.2]; for ReLU + He the second
        moment), `training` (curves and final numbers per net and learning rate), `best`
        (per trained net: lr, final training loss, test accuracy), `claim_holds`, `conclusion`.

    Example:
        >>> result = run("runs/lab", seed=1)
        >>> result["at_probe"]["snn"]["fraction_in_band"]
        1.0
    """
    depth = (32 if smoke else 48) if depth is None else depth
    draws = (2 if smoke else 10) if draws is None else draws
    epochs = (2 if smoke else 5) if epochs is None else epochs
    train_depth = (8 if smoke else 32) if train_depth is None else train_depth
    if learning_rates is None:
        learning_rates = (0.01,) if smoke else LEARNING_RATES
    for name, value in (("depth", depth), ("width", width), ("draws", draws),
                        ("probe_layer", probe_layer), ("train_depth", train_depth),
                        ("epochs", epochs), ("n", n)):
        check_positive_int(name, value)
    if probe_layer > depth:
        raise ValueError(f"`probe_layer` must be <= `depth` (the layer must exist); received "
                         f"probe_layer={probe_layer}, depth={depth}.")
    learning_rates = tuple(np.atleast_1d(learning_rates).tolist())
    if not learning_rates or any(isinstance(lr, bool) or not isinstance(lr, (int, float))
                                 or not lr > 0 for lr in learning_rates):
        raise ValueError(f"`learning_rates` must be a non-empty list of positive numbers; "
                         f"received learning_rates={learning_rates!r}.")

    stats = init_statistics(depth, width, draws, n=n, seed=seed)
    at_probe = {}
    for net, s in stats.items():
        var = np.array([v[probe_layer - 1] for v in s["variance"]])
        mean = np.array([m[probe_layer - 1] for m in s["mean"]])
        at_probe[net] = {
            "variance_min": float(var.min()), "variance_max": float(var.max()),
            "variance_median": float(np.median(var)), "mean_median": float(np.median(mean)),
            "second_moment_median": float(np.median(var + mean**2)),
            "fraction_in_band": float(np.mean((var >= BAND[0]) & (var <= BAND[1]))),
        }
    training = train_deep(train_depth, width, learning_rates, epochs, seed=seed)
    best = {}
    for net, runs in training.items():
        lr, r = _best(runs)
        best[net] = {"learning_rate": float(lr), "final_loss": r["final_loss"],
                     "test_accuracy": r["test_accuracy"]}

    snn, relu, lecun = at_probe["snn"], at_probe["relu_he"], at_probe["relu_lecun"]
    snn_loss, relu_loss = best["snn"]["final_loss"], best["relu_he"]["final_loss"]
    trains_better = snn_loss is not None and (relu_loss is None or RATIO * snn_loss <= relu_loss)
    claim = snn["fraction_in_band"] == 1.0 and relu["fraction_in_band"] <= 0.5 and trains_better
    conclusion = (
        f"At layer {probe_layer} ({draws} initialisations, width {width}, N(0,1) inputs) the SNN's "
        f"activation variance is {snn['variance_min']:.2f}-{snn['variance_max']:.2f} "
        f"({snn['fraction_in_band']:.0%} within {BAND[0]}-{BAND[1]}, median mean "
        f"{snn['mean_median']:+.2f}); ReLU + He init (no BN): {relu['variance_min']:.2f}-"
        f"{relu['variance_max']:.2f} ({relu['fraction_in_band']:.0%} within), median mean "
        f"{relu['mean_median']:.2f} and second moment {relu['second_moment_median']:.2f}; ReLU + "
        f"LeCun init collapses to {lecun['variance_median']:.0e}. Trained {train_depth} layers deep "
        f"with SGD ({epochs} epochs, digits, best of lr {', '.join(map(str, learning_rates))}), "
        f"the SNN ends at training loss {_loss_text(snn_loss)} vs {_loss_text(relu_loss)} for ReLU + He."
    )
    numbers = dict(depth=depth, width=width, draws=draws, probe_layer=probe_layer, band=list(BAND),
                   n=n, seed=seed, nets=NETS, init=stats, at_probe=at_probe,
                   train_depth=train_depth, epochs=epochs, learning_rates=list(learning_rates),
                   dataset="digits", training=training, best=best,
                   claim_holds=bool(claim), conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def headline(result) -> dict:
    """The fractions of draws in the band at the probe layer and the best training losses."""
    band, layer = result["band"], result["probe_layer"]
    at, best = result["at_probe"], result["best"]
    return {
        f"SNN draws with variance in {band[0]}-{band[1]} at layer {layer} (%)":
            100 * at["snn"]["fraction_in_band"],
        f"ReLU + He draws with variance in {band[0]}-{band[1]} at layer {layer} (%)":
            100 * at["relu_he"]["fraction_in_band"],
        "SNN training loss, best rate (nats)": best["snn"]["final_loss"],
        "ReLU + He training loss, best rate (nats)": best["relu_he"]["final_loss"],
    }


COLORS = {"snn": "tab:blue", "relu_he": "tab:red", "relu_lecun": "tab:orange"}


def _figure(n):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.8), layout="constrained")
    layers = np.arange(1, n["depth"] + 1)
    for net, label in NETS.items():
        s = n["init"][net]
        for k, (var, mean) in enumerate(zip(s["variance"], s["mean"], strict=True)):
            kw = dict(color=COLORS[net], alpha=0.4, lw=1, zorder=3 if net == "snn" else 2,
                      label=label if k == 0 else None)
            ax1.plot(layers, var, **kw)
            ax2.plot(layers, mean, **kw)
    for ax in (ax1, ax2):
        ax.axvline(n["probe_layer"], color="0.3", ls=":", lw=1)
        ax.set_xlabel("hidden layer")
        ax.grid(True, which="both", alpha=0.3)
    ax1.axhspan(*n["band"], color="tab:green", alpha=0.15,
                label=f"variance {n['band'][0]}-{n['band'][1]}")
    ax1.set_yscale("log")
    ax1.set_ylim(0.05, 20)
    ax1.set_ylabel("activation variance (log scale)")
    ax1.set_title(f"variance per layer, {n['draws']} initialisations each\n"
                  f"(dotted: layer {n['probe_layer']}, where the claim is read)")
    lecun = np.median([v[n["probe_layer"] - 1] for v in n["init"]["relu_lecun"]["variance"]])
    ax1.text(0.98, 0.03, f"ReLU + LeCun leaves the axis: {lecun:.0e} at layer {n['probe_layer']}",
             transform=ax1.transAxes, ha="right", fontsize=8, color=COLORS["relu_lecun"])
    _opaque_legend(ax1.legend(fontsize=8, loc="upper left"))
    ax2.axhline(0, color="0.3", lw=0.8)
    ax2.set_ylabel("activation mean")
    ax2.set_title("mean per layer: SNN stays at 0, ReLU activations are positive")
    _opaque_legend(ax2.legend(fontsize=8, loc="upper right"))
    for net in TRAINED:
        best_lr = n["best"][net]["learning_rate"]
        for lr, r in n["training"][net].items():
            loss = [np.nan if v is None else v for v in r["loss"]]
            is_best = float(lr) == best_lr
            ax3.plot(np.arange(1, len(loss) + 1), loss, "o-" if is_best else "--",
                     color=COLORS[net], alpha=1.0 if is_best else 0.35, ms=3,
                     label=f"{NETS[net].split(',')[0]}, lr {lr}" + (" (best)" if is_best else "")
                     + (" (diverged)" if r["final_loss"] is None else ""))
    ax3.set_yscale("log")
    ax3.set_xlabel("epoch")
    ax3.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax3.set_ylabel("training loss (cross-entropy, log scale)")
    ax3.set_title(f"training a {n['train_depth']}-layer MLP on digits with SGD\n"
                  "(a diverged run ends its line)")
    ax3.grid(True, which="both", alpha=0.3)
    ax3.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.suptitle(f"SELU self-normalisation: width-{n['width']} MLPs, N(0,1) inputs at init; "
                 "no batch norm anywhere")
    return fig


def figure_over_seeds(results):
    """Every seed: each draw's variance at the probe layer, and each net's best training curve."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
    n = results[0]
    layer, band = n["probe_layer"], n["band"]
    rng = np.random.default_rng(0)  # horizontal jitter only
    shown = [net for net in NETS if net != "relu_lecun"]  # which collapses far below the axis
    for i, net in enumerate(shown):
        for j, r in enumerate(results):
            var = [v[layer - 1] for v in r["init"][net]["variance"]]
            x = i + (j - (len(results) - 1) / 2) * 0.25 + rng.uniform(-0.06, 0.06, len(var))
            ax1.plot(x, var, "o", ms=4, color=COLORS[net], alpha=0.7,
                     label="one initialisation (columns: seeds "
                     f"{', '.join(str(q['seed']) for q in results)})" if i == j == 0 else None)
    ax1.axhspan(*band, color="tab:green", alpha=0.15, label=f"variance {band[0]}-{band[1]}")
    lecun = max(max(v[layer - 1] for v in r["init"]["relu_lecun"]["variance"]) for r in results)
    ax1.text(0.98, 0.03, f"{NETS['relu_lecun']}: at most {lecun:.0e} (off the axis)",
             transform=ax1.transAxes, ha="right", fontsize=8, color=COLORS["relu_lecun"])
    ax1.set(yscale="log", ylim=(0.05, 5), xlim=(-0.6, len(shown) - 0.4))
    ax1.set_xticks(range(len(shown)), [NETS[net].replace(", ", "\n") for net in shown],
                   fontsize=8)
    ax1.set(ylabel="activation variance (log scale)",
            title=f"variance at layer {layer} of {n['depth']}, every draw of every seed")
    ax1.legend(fontsize=8, loc="upper right")
    for net in TRAINED:
        for k, r in enumerate(results):
            best = r["best"][net]["learning_rate"]
            loss = [np.nan if v is None else v for v in r["training"][net][_lr_key(r, net, best)]
                    ["loss"]]
            ax2.plot(np.arange(1, len(loss) + 1), loss, "o-", ms=3, color=COLORS[net], alpha=0.7,
                     label=f"{NETS[net].split(',')[0]}, best rate per seed" if k == 0 else None)
    ax2.set(yscale="log", xlabel="epoch", ylabel="training loss (cross-entropy, log scale)",
            title=f"{n['train_depth']}-layer MLPs on digits, SGD at each one's best rate, "
                  "one line per seed")
    ax2.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"SELU self-normalisation over {len(results)} seeds (width {n['width']}, "
                 "no batch norm)")
    return fig


def _lr_key(result, net, lr):
    return next(key for key in result["training"][net] if float(key) == lr)


def _opaque_legend(legend):
    # The per-draw lines are translucent; their legend entries should not be.
    for handle in legend.legend_handles:
        if hasattr(handle, "get_xdata"):
            handle.set_alpha(1)
