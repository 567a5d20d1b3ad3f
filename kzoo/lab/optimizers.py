"""Lesson: optimisers and learning-rate schedules -- SGD, momentum, Adagrad, RMSProp, Adam; 1/t decay.

The lecture: plain SGD makes slow progress along shallow directions and jitters along steep ones;
momentum (v <- lambda v - eta g) keeps moving through flat regions, and Adagrad / RMSProp / Adam
give every parameter its own step size, so they should reach a lower loss in the same number of
updates. For the learning rate itself: "at the beginning we are far from the destination, so we
use a larger learning rate; after several epochs we are close, so we reduce it", e.g. the 1/t
decay eta_t = eta / sqrt(t + 1).

The experiment: one network (`depth` x `width` ReLU MLP, He init) on MNIST-1D, every optimiser
built by kzoo's own factory (`TrainConfig` -> `make_optimizer`) and trained for the same number of
epochs at its conventional rate and at each rate of a three-point half-decade grid around its best
rate. The number compared is the full training-set loss averaged over the last `tail` epochs (one
lucky or unlucky epoch end does not decide). Two comparisons: every optimiser at its conventional
rate, and every optimiser at its best rate of those it tried (the fair one). For the schedule:
plain SGD with a constant rate vs the 1/t decay, with t counting epochs
(`InverseSqrtDecay(eta, steps_per_epoch)`) and t counting updates (`schedule="inverse_sqrt"`), at a
rate too large for a constant schedule.

The claim, per seed (the seed draws the weights and the batch order): at the conventional rates
plain SGD ends at least `margin` (0.5) nats above the best of momentum, Adagrad, RMSProp and Adam,
but once every optimiser runs at its best rate SGD's deficit shrinks to at most a third of that --
much of the adaptive methods' advantage is an advantage at default rates (Wilson et al. 2017 make
the point for generalisation; here it is training loss after a short budget on 2,000 examples,
where the best adaptive method still leads tuned SGD by 0.09-0.29 nats on seeds 0-2 -- on seed 2
that is 0.31 of the deficit at conventional rates, close to the claim's third). Over its 3 seeds
the lesson takes about 2 min on 2 CPU cores.

Reference: Duchi et al. 2011 (Adagrad); Tieleman & Hinton 2012 (RMSProp); Kingma & Ba 2015 (Adam);
Wilson et al. 2017, "The Marginal Value of Adaptive Gradient Methods in Machine Learning".
"""

from __future__ import annotations

import math

import keras
import numpy as np

import kzoo
from kzoo.lab._common import flat_training_arrays, seed_everything, write_results
from kzoo.training.config import TrainConfig
from kzoo.training.optimizers import InverseSqrtDecay, make_optimizer

LESSON = "optimizers"
CLAIM = ("On a 3x128 ReLU MLP (MNIST-1D, 10 epochs), plain SGD at 0.01 ends at least 0.5 nats "
         "above the best of momentum, Adagrad, RMSProp and Adam at their conventional rates, but "
         "with every optimiser at its best rate of a half-decade grid SGD's deficit shrinks to at "
         "most a third of that.")
PAPER = ("Kingma & Ba 2015 (Adam); Duchi et al. 2011 (Adagrad); Wilson et al. 2017, The Marginal "
         "Value of Adaptive Gradient Methods")
SEEDS = (0, 1, 2)
OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam")
# Keras' defaults, except plain SGD with momentum 0.9 at 0.01 and Adagrad at Duchi et al.'s 0.01.
CONVENTIONAL = {"sgd": 0.01, "momentum": 0.01, "adagrad": 0.01, "rmsprop": 1e-3, "adam": 1e-3}
# Three half-decade rates around each optimiser's best (on the full 5-point grids from a decade
# below to a decade above these, every best rate fell inside them); each also runs at its
# conventional rate.
GRIDS = {
    "sgd": (0.1, 0.3, 1.0),
    "momentum": (0.01, 0.03, 0.1),
    "adagrad": (0.03, 0.1, 0.3),
    "rmsprop": (1e-3, 3e-3, 1e-2),
    "adam": (1e-3, 3e-3, 1e-2),
}
SCHEDULES = {"constant": "constant", "1/t, t = epoch": "inverse_sqrt_epoch",
             "1/t, t = update": "inverse_sqrt"}


class _TrainingSetLoss(keras.callbacks.Callback):
    # Keras' logged "loss" averages the minibatches of an epoch while the weights move; this is
    # the loss of the weights at the end of each epoch on the whole training set.
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.losses = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        loss = self.model.evaluate(self.x, self.y, batch_size=1024, verbose=0)
        self.losses.append(float(loss))


def _optimizer(name, lr, schedule, epochs, steps_per_epoch, dataset):
    config = TrainConfig(model="plain_mlp", dataset=dataset, run_dir="unused", optimizer=name,
                         learning_rate=lr, epochs=epochs,
                         schedule="inverse_sqrt" if schedule == "inverse_sqrt" else "constant")
    optimizer = make_optimizer(config.validate(), steps_per_epoch)
    if schedule == "inverse_sqrt_epoch":
        # TrainConfig's inverse_sqrt counts t in updates; the same schedule with t in epochs.
        optimizer.learning_rate = InverseSqrtDecay(lr, decay_steps=steps_per_epoch)
    return optimizer


def _train(x, y, name, lr, schedule, *, depth, width, epochs, batch_size, seed, dataset):
    """Training-set loss after each epoch (None from the epoch the loss became NaN)."""
    seed_everything(seed)
    model = kzoo.create_model("plain_mlp", depth=depth, width=width, activation="relu",
                              input_shape=x.shape[1:], classes=int(y.max()) + 1)
    steps = math.ceil(len(x) / batch_size)
    model.compile(_optimizer(name, lr, schedule, epochs, steps, dataset),
                  "sparse_categorical_crossentropy", jit_compile=False)
    probe = _TrainingSetLoss(x, y)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
              callbacks=[keras.callbacks.TerminateOnNaN(), probe])
    keras.backend.clear_session()
    losses = [v if math.isfinite(v) else None for v in probe.losses]
    return losses + [None] * (epochs - len(losses))


def _deficit(losses, others):
    """SGD's loss minus the lowest other loss (inf if SGD diverged; None if all others did)."""
    done = [losses[o] for o in others if losses[o] is not None]
    if not done:
        return None
    return math.inf if losses["sgd"] is None else losses["sgd"] - min(done)


def _tail(curve, tail):
    end = curve[-tail:]
    return None if any(v is None for v in end) else float(np.mean(end))


def _best(finals):
    """(rate, loss) with the lowest loss; diverged runs (None) never win."""
    done = {lr: v for lr, v in finals.items() if v is not None}
    if not done:
        return None, None
    lr = min(done, key=done.get)
    return float(lr), done[lr]


def run(out_dir, *, seed=0, smoke=False, optimizers=OPTIMIZERS, depth=3, width=128, epochs=None,
        dataset="mnist1d", examples=None, batch_size=64, tail=None, large_rate=1.0, margin=0.5,
        shrink=3.0) -> dict:
    """Train the MLP with each optimiser at its conventional rate and over its rate grid, and SGD
    with constant vs 1/t rates.

    Args:
        out_dir: output directory.
        seed: random seed (weights, batch order); the same for every run.
        smoke: a seconds-long configuration (1,000 examples, 2 epochs, every optimiser at its
            conventional rate only, SGD also at `large_rate`); its numbers are not evidence.
        optimizers: a subset of `OPTIMIZERS`; must include "sgd".
        depth, width: the ReLU MLP's hidden layers and units.
        epochs: training epochs, the same budget for every run (default 10; smoke 2).
        dataset: an offline dataset of `kzoo.data`.
        examples: train on the first this-many training examples (default 2,000; smoke 1,000).
        batch_size: minibatch size.
        tail: the compared loss is the mean training-set loss over the last `tail` epochs
            (default 3; smoke 1).
        large_rate: the rate at which constant SGD and the decayed schedules are compared; it must
            be in SGD's grid (1.0: above the best constant rate).
        margin: nats by which SGD at its conventional rate must trail the best other method at
            its conventional rate (also the margin of the reported pairwise sub-claims and of
            the 1/t decay over the constant rate at `large_rate`).
        shrink: at their best rates SGD's deficit to the best other method must be at most
            1/`shrink` of its deficit at the conventional rates.

    Returns:
        `curves[optimizer][lr]` / `decay_curves[schedule][lr]` (training-set loss per epoch),
        `final_loss` / `decay_final_loss` (mean of the last `tail` epochs; None if diverged),
        `at_conventional` and `at_best` ({optimizer: loss}), `best_lr`, `sgd_deficit` (SGD's
        loss minus the best other method's, at conventional and at best rates), `claims` (the
        sub-claims), `claim_holds` (SGD trails by at least `margin` at the conventional rates,
        and by at most 1/`shrink` of that at the best rates) and a one-line `conclusion`.
    """
    unknown = [o for o in optimizers if o not in OPTIMIZERS]
    if unknown or "sgd" not in optimizers:
        raise ValueError(f"`optimizers` must include 'sgd' and come from {OPTIMIZERS}; "
                         f"received optimizers={tuple(optimizers)!r}.")
    epochs = (2 if smoke else 10) if epochs is None else epochs
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer; received epochs={epochs!r}.")
    tail = (1 if smoke else 3) if tail is None else tail
    if not 1 <= tail <= epochs:
        raise ValueError(f"`tail` must be in [1, epochs={epochs}]; received tail={tail!r}.")
    if large_rate not in GRIDS["sgd"]:
        raise ValueError(f"`large_rate` must be in SGD's grid {GRIDS['sgd']}; "
                         f"received large_rate={large_rate!r}.")
    grids = {o: tuple(sorted({CONVENTIONAL[o], *(() if smoke else GRIDS[o])})) for o in optimizers}
    grids["sgd"] = tuple(sorted({*grids["sgd"], large_rate}))
    examples = (1000 if smoke else 2000) if examples is None else examples
    x, y = flat_training_arrays(dataset, limit=examples)
    common = dict(depth=depth, width=width, epochs=epochs, batch_size=batch_size, seed=seed,
                  dataset=dataset)

    curves = {o: {str(lr): _train(x, y, o, lr, "constant", **common) for lr in grids[o]}
              for o in optimizers}
    final = {o: {lr: _tail(c, tail) for lr, c in runs.items()} for o, runs in curves.items()}
    decay_curves = {"constant": {str(lr): curves["sgd"][str(lr)] for lr in grids["sgd"]}}
    for label, schedule in list(SCHEDULES.items())[1:]:
        decay_curves[label] = {str(large_rate): _train(x, y, "sgd", large_rate, schedule,
                                                       **common)}
    decay_final = {s: {lr: _tail(c, tail) for lr, c in runs.items()}
                   for s, runs in decay_curves.items()}

    conventional = {o: final[o].get(str(CONVENTIONAL[o])) for o in optimizers}
    best_lr, at_best = {}, {}
    for o in optimizers:
        best_lr[o], at_best[o] = _best(final[o])
    decay_best = {s: dict(zip(("lr", "loss"), _best(f), strict=True))
                  for s, f in decay_final.items()}
    at_large = {s: f.get(str(large_rate)) for s, f in decay_final.items()}

    def beats(a, b):  # a below b by the margin; a diverged run never beats, one always loses
        return a is not None and (b is None or a <= b - margin)

    others = [o for o in optimizers if o != "sgd"]
    epoch_t = "1/t, t = epoch"
    deficit = {"conventional": _deficit(conventional, others),
               "best": _deficit(at_best, others)}
    claims = {
        "sgd_behind_at_conventional_rates": deficit["conventional"] is not None
                                            and deficit["conventional"] >= margin,
        "tuning_shrinks_sgd_deficit": deficit["best"] is not None
                                      and deficit["conventional"] is not None
                                      and deficit["best"] <= deficit["conventional"] / shrink,
        "every_method_beats_sgd_at_conventional_rates": all(
            beats(conventional[o], conventional["sgd"]) for o in others),
        "every_method_beats_sgd_at_best_rates": all(beats(at_best[o], at_best["sgd"])
                                                    for o in others),
        "decay_tames_large_rate": beats(at_large[epoch_t], at_large["constant"]),
    }
    conclusion = _conclusion(epochs, depth, width, dataset, tail, conventional, at_best, best_lr,
                             at_large, decay_best, large_rate, epoch_t)
    numbers = dict(depth=depth, width=width, epochs=epochs, dataset=dataset, seed=seed,
                   batch_size=batch_size, tail=tail, margin=margin, shrink=shrink,
                   large_rate=large_rate,
                   examples=int(len(x)), grids={o: list(g) for o, g in grids.items()},
                   conventional_lr={o: CONVENTIONAL[o] for o in optimizers},
                   curves=curves, final_loss=final, at_conventional=conventional,
                   at_best=at_best, best_lr=best_lr, sgd_deficit=deficit,
                   decay_curves=decay_curves,
                   decay_final_loss=decay_final, decay_best=decay_best, decay_at_large=at_large,
                   claims=claims, claim_holds=bool(claims["sgd_behind_at_conventional_rates"]
                                                   and claims["tuning_shrinks_sgd_deficit"]),
                   conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _fmt(v):
    return "diverged" if v is None else f"{v:.3f}"


def _conclusion(epochs, depth, width, dataset, tail, conventional, at_best, best_lr, at_large,
                decay_best, large_rate, epoch_t):
    return (
        f"Training loss after {epochs} epochs ({depth}x{width} ReLU MLP, {dataset}, mean of the "
        f"last {tail}): at conventional rates "
        + ", ".join(f"{o} {_fmt(v)}" for o, v in conventional.items())
        + "; each at its best grid rate "
        + ", ".join(f"{o} {_fmt(at_best[o])} (lr {best_lr[o]:g})" for o in at_best
                    if best_lr[o] is not None)
        + f". SGD at lr {large_rate:g}: constant {_fmt(at_large['constant'])}, 1/t decay "
        f"(t = epoch) {_fmt(at_large[epoch_t])}, (t = update) {_fmt(at_large['1/t, t = update'])}; "
        f"constant at its best rate {_fmt(decay_best['constant']['loss'])}."
    )


def headline(result) -> dict:
    """SGD's deficit to the best other method at conventional and at best rates, SGD's own best
    loss, and what the 1/t decay buys at a large rate."""
    large = result["decay_at_large"]
    decay = (None if large["constant"] is None or large["1/t, t = epoch"] is None
             else large["constant"] - large["1/t, t = epoch"])
    return {
        "SGD above the best other method, conventional rates (nats)":
            result["sgd_deficit"]["conventional"],
        "SGD above the best other method, each at its best rate (nats)":
            result["sgd_deficit"]["best"],
        "SGD training loss at its best rate (nats)": result["at_best"]["sgd"],
        f"1/t decay (t = epoch) below constant, SGD at lr {result['large_rate']:g} (nats)": decay,
    }


def figure_over_seeds(results):
    """Every seed's loss per optimiser at its conventional and at its best rate (one dot each)."""
    import matplotlib.pyplot as plt

    names = list(results[0]["at_best"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), sharey=True, layout="constrained")
    jitter = np.linspace(-0.12, 0.12, len(results))
    for ax, key, title in ((axes[0], "at_conventional", "at its conventional rate"),
                           (axes[1], "at_best", "at its best rate of its grid")):
        for i, o in enumerate(names):
            values = [np.nan if r[key][o] is None else r[key][o] for r in results]
            color = "black" if o == "sgd" else "tab:blue"
            ax.plot(i + jitter, values, "o", color=color, alpha=0.8)
            ax.hlines(np.nanmean(values), i - 0.25, i + 0.25, color=color, lw=2)
        ax.set_xticks(range(len(names)), names)
        ax.set(yscale="log", title=f"each optimiser {title}")
        ax.grid(True, which="both", axis="y", alpha=0.3)
    axes[0].set_ylabel(f"training loss, mean of last {results[0]['tail']} epochs (log)")
    n = results[0]
    fig.suptitle(f"Optimisers on a {n['depth']}x{n['width']} ReLU MLP ({n['dataset']}, "
                 f"{n['epochs']} epochs): each dot one seed "
                 f"({', '.join(str(r['seed']) for r in results)}), bar the mean")
    return fig


def _figure(n):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 4.8), layout="constrained")
    colors = dict(zip(OPTIMIZERS, ("black", "tab:blue", "tab:green", "tab:orange", "tab:red"),
                      strict=True))
    epochs = np.arange(1, n["epochs"] + 1)

    def line(ax, curve, *args, **kwargs):
        ax.plot(epochs, [np.nan if v is None else v for v in curve], *args, **kwargs)

    for o, runs in n["curves"].items():
        best, conv = n["best_lr"][o], n["conventional_lr"][o]
        if best is not None:
            line(ax1, runs[str(best)], "-", color=colors[o], lw=2, label=f"{o}, best lr {best:g}")
        if conv != best:
            line(ax1, runs[str(conv)], ":", color=colors[o], lw=1.5,
                 label=f"{o}, conventional lr {conv:g}")
        rates = [float(lr) for lr in runs]
        finals = [np.nan if n["final_loss"][o][lr] is None else n["final_loss"][o][lr]
                  for lr in runs]
        ax2.plot(rates, finals, "o-", color=colors[o], label=o)
        conv_loss = n["final_loss"][o].get(str(conv))
        if conv_loss is not None:
            ax2.plot([conv], [conv_loss], "s", mfc="none", mec=colors[o], ms=11)
    ax1.set(yscale="log", xlabel="epoch", ylabel="training-set cross-entropy (log scale)",
            title="each optimiser at its best rate (solid) and conventional rate (dotted)")
    ax1.legend(fontsize=7, ncol=2)
    ax2.plot([], [], "s", mfc="none", mec="0.3", ms=9, label="conventional rate")
    ax2.set(xscale="log", yscale="log", xlabel="learning rate (log scale)",
            ylabel=f"training loss, mean of last {n['tail']} epochs (log)",
            title="learning-rate grids (same budget, same seed)")
    ax2.legend(fontsize=8)

    styles = {"constant": "-", "1/t, t = epoch": "--", "1/t, t = update": ":"}
    large = str(n["large_rate"])
    shades = {"constant": "black", "1/t, t = epoch": "tab:purple", "1/t, t = update": "tab:brown"}
    for s, runs in n["decay_curves"].items():
        if large in runs:
            line(ax3, runs[large], styles[s], color=shades[s], lw=2,
                 label=f"{s}, lr {n['large_rate']:g}")
        best = n["decay_best"][s]["lr"]
        if best is not None and str(best) != large:
            line(ax3, runs[str(best)], styles[s], color=shades[s], lw=1, alpha=0.6,
                 label=f"{s}, best lr {best:g}")
    ax3.set(yscale="log", xlabel="epoch", ylabel="training-set cross-entropy (log scale)",
            title="plain SGD: constant rate vs 1/t decay eta/sqrt(t+1)")
    ax3.legend(fontsize=8)
    for a in (ax1, ax2, ax3):
        a.grid(True, which="both", alpha=0.3)
    for a in (ax1, ax3):
        a.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"Optimisers on a {n['depth']}x{n['width']} ReLU MLP ({n['dataset']}, "
                 f"{n['examples']} examples, batch {n['batch_size']}, {n['epochs']} epochs, "
                 f"seed {n['seed']})")
    return fig
