"""Lesson 7 -- Residual learning: deeper plain CNNs train worse, deeper ResNets do not (degradation).

The lecture (He et al. 2015): stacking more layers on a plain network makes its *training* error
higher, not lower -- not overfitting, an optimisation difficulty ("degradation"). Letting each pair
of layers fit a residual F(x) = H(x) - x, with an identity shortcut adding x back, removes it: the
deeper residual net trains at least as well as the shallower one.

The experiment: He et al.'s CIFAR pair at two depths on the UCI digits (8x8x1, scaled to [0, 1]):
`plain_cnn` with depth - 1 hidden convolutions (3x3 conv + BN + ReLU, 16/32/64 filters, stride-2
downsampling, global pooling, classifier: the ResNet without its shortcuts, same parameter count)
and the registered `resnet<depth>` (shortcut A). Every net gets the same SGD with momentum 0.9,
learning rate, batch size, epochs and seed. Measured per net: the training loss and error averaged
over the last epoch, in training mode (BN on batch statistics), as in He et al.'s training curves --
after a few hundred steps BN's moving averages still lag, so an inference-mode evaluation of the
training set would mostly measure that lag. The degradation ratio of a family is its deeper net's
final training loss over its shallower net's.

With the default 10 epochs (230 steps) the effect is stronger than in He et al.'s Fig. 6, where
plain-56 trained for 64k iterations and ended at a higher training error than plain-20: here it
has barely left chance level while plain-20 fits the training set, so read the ratio as "how much
harder the deeper plain net is to optimise in the same budget", not as converged errors.

Reference: He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016
(arXiv:1512.03385), Section 4.2 and Fig. 6.
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


def run(out_dir, *, seed=0, smoke=False, depths=None, epochs=None, learning_rate=0.01,
        batch_size=64, min_degradation=2.0) -> dict:
    """Train plain and residual CNNs at two depths on digits; write residual.png / residual.json.

    Args:
        out_dir: output directory.
        seed: random seed (weights, batch order), the same for every net.
        smoke: a small configuration (depths 20 and 32, 4 epochs).
        depths: two depths from 20, 32, 44, 56, 110 (default 20 and 56, He et al.'s pair).
        epochs: training epochs (default 10; smoke 4).
        learning_rate: SGD learning rate (momentum 0.9).
        batch_size: minibatch size.
        min_degradation: how many times higher the deeper plain net's final training loss must
            be than the shallower one's for the claim.

    Returns:
        `curves[family][depth]` (per-epoch training loss and error), `final_loss`, `final_error`,
        `degradation` (deeper / shallower final loss per family), `parameters`, `seconds`,
        `claim_holds` (plain degrades by at least `min_degradation`, residual not at all: ratio
        <= 1) and a one-line `conclusion`.

    Example:
        >>> result = run("runs/lab", smoke=True)
        >>> result["degradation"]["plain"] > 2 > 1 >= result["degradation"]["residual"]
        True
    """
    depths = tuple((20, 32) if smoke else (20, 56)) if depths is None else tuple(depths)
    epochs = (4 if smoke else 10) if epochs is None else epochs
    if len(depths) != 2 or any(d not in RESNET_DEPTHS for d in depths) or depths[0] >= depths[1]:
        raise ValueError(f"`depths` must be two increasing depths from {RESNET_DEPTHS} (the "
                         f"registered CIFAR ResNets); received depths={depths!r}.")
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be a positive number; received "
                         f"learning_rate={learning_rate!r}.")

    x, y = _digits()
    curves, final_loss, final_error, params, seconds = {}, {}, {}, {}, {}
    for family in FAMILIES:
        curves[family], final_loss[family], final_error[family] = {}, {}, {}
        params[family], seconds[family] = {}, {}
        for depth in depths:
            seed_everything(seed)
            model = _build(family, depth, x.shape[1:], classes=10)
            model.compile(keras.optimizers.SGD(learning_rate, momentum=0.9),
                          "sparse_categorical_crossentropy", metrics=["accuracy"],
                          jit_compile=False)
            start = time.perf_counter()
            hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
            seconds[family][str(depth)] = time.perf_counter() - start
            loss = [float(v) for v in hist.history["loss"]]
            error = [1.0 - float(v) for v in hist.history["accuracy"]]
            curves[family][str(depth)] = {"loss": loss, "error": error}
            final_loss[family][str(depth)], final_error[family][str(depth)] = loss[-1], error[-1]
            params[family][str(depth)] = int(model.count_params())
            keras.backend.clear_session()

    shallow, deep = map(str, depths)
    degradation = {f: final_loss[f][deep] / final_loss[f][shallow] for f in FAMILIES}
    claim = degradation["plain"] >= min_degradation and degradation["residual"] <= 1.0
    pl, rl, pe, re_ = final_loss["plain"], final_loss["residual"], final_error["plain"], \
        final_error["residual"]
    conclusion = (
        f"After {epochs} epochs on digits (SGD, lr {learning_rate}), the plain {deep}-layer CNN's "
        f"training loss is {pl[deep]:.3f} ({pe[deep]:.1%} error) vs {pl[shallow]:.3f} "
        f"({pe[shallow]:.1%}) for plain-{shallow}, {degradation['plain']:.1f}x worse; ResNet-{deep} "
        f"reaches {rl[deep]:.4f} ({re_[deep]:.1%}) vs {rl[shallow]:.4f} ({re_[shallow]:.1%}) for "
        f"ResNet-{shallow} ({degradation['residual']:.2f}x): depth degrades the plain net only."
    )
    numbers = dict(depths=list(depths), epochs=epochs, learning_rate=learning_rate,
                   batch_size=batch_size, dataset="digits", seed=seed, curves=curves,
                   final_loss=final_loss, final_error=final_error, degradation=degradation,
                   min_degradation=min_degradation, parameters=params, seconds=seconds,
                   claim_holds=bool(claim), conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _figure(n):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.6), layout="constrained")
    shallow, deep = map(str, n["depths"])
    colors = {shallow: "tab:blue", deep: "tab:red"}
    styles = {"plain": "--", "residual": "-"}
    names = {"plain": "plain-{}", "residual": "ResNet-{}"}
    epochs = np.arange(1, n["epochs"] + 1)
    for family in FAMILIES:
        for depth in (shallow, deep):
            c = n["curves"][family][depth]
            label = names[family].format(depth)
            ax1.plot(epochs, c["loss"], styles[family], color=colors[depth], marker="o", ms=3,
                     label=label)
            ax2.plot(epochs, np.array(c["error"]) * 100, styles[family], color=colors[depth],
                     marker="o", ms=3, label=label)
    ax1.set_yscale("log")
    ax1.set_ylabel("training loss (cross-entropy, log scale)")
    ax1.set_title("training loss: the deeper plain net is worse")
    ax2.set_ylabel("training error (%)")
    ax2.set_title("training error (mean over each epoch)")
    for ax in (ax1, ax2):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=9, title="dashed: plain, solid: residual", title_fontsize=8)
    width = 0.38
    for i, depth in enumerate((shallow, deep)):
        values = [n["final_loss"][f][depth] for f in FAMILIES]
        bars = ax3.bar(np.arange(2) + (i - 0.5) * width, values, width, color=colors[depth],
                       label=f"{depth} layers")
        ax3.bar_label(bars, fmt="%.3g", fontsize=8)
    ax3.set_xticks(np.arange(2), [f"plain\n(deeper / shallower = {n['degradation']['plain']:.1f}x)",
                                  f"residual\n({n['degradation']['residual']:.2f}x)"])
    ax3.set_yscale("log")
    ax3.set_ylabel("final training loss (last epoch, log scale)")
    ax3.set_title("degradation: only the plain net gets worse with depth")
    ax3.legend(fontsize=9)
    ax3.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(f"Residual learning on UCI digits (8x8): plain vs residual CNNs at {shallow} and "
                 f"{deep} layers, SGD momentum 0.9, lr {n['learning_rate']}, same seed")
    return fig
