"""Lesson 7 -- Residual learning: deeper plain CNNs train worse, deeper ResNets do not (degradation).

The lecture (He et al. 2015): stacking more layers on a plain network makes its *training* error
higher, not lower -- not overfitting, an optimisation difficulty ("degradation"). Letting each pair
of layers fit a residual F(x) = H(x) - x, with an identity shortcut adding x back, removes it: the
deeper residual net trains at least as well as the shallower one.

The experiment: He et al.'s CIFAR pair at 20 and 56 layers on the UCI digits (8x8x1, scaled to
[0, 1]): `plain_cnn` with depth - 1 hidden convolutions (3x3 conv + BN + ReLU, 16/32/64 filters,
stride-2 downsampling, global pooling, classifier: the ResNet without its shortcuts, the same
parameter count) and the registered `resnet<depth>` (shortcut A). As in the paper, every net gets
the same training: SGD with momentum 0.9, the same learning rate, batch size, epochs and seed. The
curves are He et al.'s Fig. 1 / 6 quantities: training error and loss averaged over each epoch, in
training mode (BN on batch statistics).

The learning rate: 0.01 for every net. Measured once (seed 0, 15 epochs), plain-56's training
error is 50% at 0.003, 51% at 0.01, 70% at 0.03 and 87% at 0.1 -- 0.01 is as good as its best
rate of that grid, and plain-20 and both ResNets train well at it. `learning_rates=(...)` runs
every net at each rate of a grid and keeps each net's best (lowest final loss) instead, at the
grid's multiple of the cost.

Over 3 seeds: about 3 min on 2 CPU cores (4 nets x 8 epochs per seed).

Reference: He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016
(arXiv:1512.03385), Section 4.2 and Fig. 1 and 6.
"""

from __future__ import annotations

import time

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results
from kzoo.layers._validation import check_positive_int

LESSON = "residual"
CLAIM = ("Plain-56 trains to a higher training error than plain-20 at every epoch, while ResNet-56 "
         "ends at a training loss no higher than ResNet-20's (same parameter counts as the plain "
         "nets).")
PAPER = "He, Zhang, Ren, Sun 2016, Deep Residual Learning, Fig. 1 and 6"
SEEDS = (0, 1, 2)
RESNET_DEPTHS = (20, 32, 44, 56, 110)  # the registered CIFAR ResNets with basic blocks
FAMILIES = ("plain", "residual")


def _build(family, depth, input_shape, classes):
    if family == "plain":
        # The classifier is the depth-th weighted layer, as in the ResNet's count.
        return kzoo.create_model("plain_cnn", depth=depth - 1, input_shape=input_shape,
                                 classes=classes)
    return kzoo.create_model(f"resnet{depth}", input_shape=input_shape, classes=classes)


def _digits():
    a = kzoo.data.load_arrays("digits")
    return a["x_train"].astype("float32") / 16.0, a["y_train"]


def _train(family, depth, lr, x, y, *, epochs, batch_size, seed):
    seed_everything(seed)
    model = _build(family, depth, x.shape[1:], classes=10)
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    loss = [float(v) for v in hist.history["loss"]]
    error = [1.0 - float(v) for v in hist.history["accuracy"]]
    params = int(model.count_params())
    keras.backend.clear_session()
    return loss, error, params


def run(out_dir, *, seed=0, smoke=False, depths=None, epochs=None, learning_rates=(0.01,),
        batch_size=64) -> dict:
    """Train plain and residual CNNs at two depths on digits; write residual.png / residual.json.

    Args:
        out_dir: output directory.
        seed: random seed (weights, batch order), the same for every net.
        smoke: a small configuration (depths 20 and 32, 2 epochs).
        depths: two depths from 20, 32, 44, 56, 110 (default 20 and 56, He et al.'s pair).
        epochs: training epochs (default 8; smoke 2).
        learning_rates: SGD rates (momentum 0.9); with more than one, each net is reported at its
            best (lowest final training loss).
        batch_size: minibatch size.

    Returns:
        `curves[family][depth]` (per-epoch training loss and error at the net's rate), `final_loss`,
        `final_error`, `best_lr`, `degradation` (deeper / shallower final loss per family),
        `parameters`, `seconds`, `claim_holds` and a one-line `conclusion`.

    Example:
        >>> result = run("runs/lab")
        >>> result["degradation"]["plain"] > 1 >= result["degradation"]["residual"]
        True
    """
    depths = tuple((20, 32) if smoke else (20, 56)) if depths is None else tuple(depths)
    epochs = (2 if smoke else 8) if epochs is None else epochs
    learning_rates = tuple(learning_rates)
    if len(depths) != 2 or any(d not in RESNET_DEPTHS for d in depths) or depths[0] >= depths[1]:
        raise ValueError(f"`depths` must be two increasing depths from {RESNET_DEPTHS} (the "
                         f"registered CIFAR ResNets); received depths={depths!r}.")
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if not learning_rates or any(isinstance(lr, bool) or not isinstance(lr, (int, float))
                                 or not lr > 0 for lr in learning_rates):
        raise ValueError(f"`learning_rates` must be positive numbers; received "
                         f"learning_rates={learning_rates!r}.")

    x, y = _digits()
    curves, final_loss, final_error, params, seconds, best_lr = {}, {}, {}, {}, {}, {}
    for family in FAMILIES:
        for table in (curves, final_loss, final_error, params, seconds, best_lr):
            table[family] = {}
        for depth in depths:
            start, best = time.perf_counter(), None
            for lr in learning_rates:
                loss, error, count = _train(family, depth, lr, x, y, epochs=epochs,
                                            batch_size=batch_size, seed=seed)
                if best is None or loss[-1] < best[1][-1]:
                    best = (lr, loss, error, count)
            d = str(depth)
            best_lr[family][d], loss, error, params[family][d] = best
            seconds[family][d] = time.perf_counter() - start
            curves[family][d] = {"loss": loss, "error": error}
            final_loss[family][d], final_error[family][d] = loss[-1], error[-1]

    shallow, deep = map(str, depths)
    degradation = {f: final_loss[f][deep] / final_loss[f][shallow] for f in FAMILIES}
    plain_worse_every_epoch = all(
        d > s for d, s in zip(curves["plain"][deep]["error"], curves["plain"][shallow]["error"],
                              strict=True))
    claim = plain_worse_every_epoch and degradation["residual"] <= 1.0
    pl, rl, pe, re_ = final_loss["plain"], final_loss["residual"], final_error["plain"], \
        final_error["residual"]
    conclusion = (
        f"After {epochs} epochs on digits (SGD, lr {', '.join(map(str, learning_rates))}), "
        f"plain-{deep}'s training error is {pe[deep]:.1%} (loss {pl[deep]:.3f}) vs {pe[shallow]:.1%} "
        f"({pl[shallow]:.3f}) for plain-{shallow}, above it at "
        f"{'every epoch' if plain_worse_every_epoch else 'not every epoch'}; ResNet-{deep} reaches "
        f"{re_[deep]:.1%} (loss {rl[deep]:.4f}) vs {re_[shallow]:.1%} ({rl[shallow]:.4f}) for "
        f"ResNet-{shallow}."
    )
    numbers = dict(depths=list(depths), epochs=epochs, learning_rates=list(learning_rates),
                   batch_size=batch_size, dataset="digits", seed=seed, curves=curves,
                   final_loss=final_loss, final_error=final_error, best_lr=best_lr,
                   degradation=degradation, plain_worse_every_epoch=plain_worse_every_epoch,
                   parameters=params, seconds=seconds, claim_holds=bool(claim),
                   conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure([numbers]), smoke=smoke)


def headline(result) -> dict:
    """The plain nets' final training error (%) and the ResNets' final training loss (both
    ResNets fit the training set; their losses still tell the deeper from the shallower)."""
    shallow, deep = map(str, result["depths"])
    numbers = {f"plain-{d} final training error (%)": 100 * result["final_error"]["plain"][d]
               for d in (shallow, deep)}
    numbers.update({f"ResNet-{d} final training loss": result["final_loss"]["residual"][d]
                    for d in (shallow, deep)})
    return numbers


def figure_over_seeds(results):
    """He et al.'s Fig. 1 / 6 over seeds: mean curves per epoch with a min-max band."""
    return _figure(results)


def _figure(results):
    import matplotlib.pyplot as plt

    n = results[0]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
    shallow, deep = map(str, n["depths"])
    colors = {shallow: "tab:orange", deep: "tab:red"}
    names = {"plain": "plain-{}", "residual": "ResNet-{}"}
    epochs = np.arange(1, n["epochs"] + 1)
    # Plain nets: training error (%), as He et al. plot it; both ResNets reach 0% error, so their
    # panel shows the training loss on a log scale, where the deeper one's lower loss is visible.
    quantity = {"plain": ("error", 100.0), "residual": ("loss", 1.0)}
    for ax, family in zip(axes[:2], FAMILIES, strict=True):
        key, scale = quantity[family]
        for depth in (shallow, deep):
            rows = np.array([r["curves"][family][depth][key] for r in results]) * scale
            ax.plot(epochs, rows.mean(axis=0), "-", color=colors[depth], lw=2,
                    label=names[family].format(depth))
            if len(results) > 1:
                ax.fill_between(epochs, rows.min(axis=0), rows.max(axis=0), color=colors[depth],
                                alpha=0.2, lw=0)
        if family == "plain":
            ax.set(ylabel="training error (%)", ylim=(0, None), title="plain nets: training error")
        else:
            ax.set_yscale("log")
            ax.set(ylabel="training loss (log scale)", title="residual nets: training loss")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9, title="mean, band: min-max over seeds", title_fontsize=8)
    ax3 = axes[2]
    labels = [names[f].format(d) for f in FAMILIES for d in (shallow, deep)]
    for i, (family, depth) in enumerate((f, d) for f in FAMILIES for d in (shallow, deep)):
        values = [r["final_loss"][family][depth] for r in results]
        ax3.plot([i] * len(values), values, "o", color=colors[depth], alpha=0.7)
        ax3.plot([i - 0.25, i + 0.25], [np.mean(values)] * 2, "-", color="0.2")
    ax3.set_xticks(range(4), labels)
    ax3.set_yscale("log")
    ax3.set(ylabel="final training loss (log scale)",
            title="final loss, each seed (bar: mean)")
    ax3.grid(True, axis="y", which="both", alpha=0.3)
    seeds = len(results)
    fig.suptitle(f"Degradation on UCI digits (8x8): the deeper plain net trains worse, the deeper "
                 f"ResNet does not. SGD momentum 0.9, lr {', '.join(map(str, n['learning_rates']))},"
                 f" batch {n['batch_size']}; {seeds} seed{'s' * (seeds > 1)}", fontsize=10)
    return fig
