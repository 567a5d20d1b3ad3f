"""Lesson: regularisation -- dropout, weight decay, early stopping and data augmentation.

The lecture: with little training data a network fits its training set and generalises badly;
early stopping ("how many parameter updates do we need?"), weight decay (C' = C + lambda/2
||theta||^2 over the weights, not the biases), dropout (each neuron dropped with probability p in
every iteration, weights scaled at test time) and creating more training data (shifted examples)
all narrow the gap between training and held-out performance.

The experiment: a wide ReLU MLP on a small stratified training subset of MNIST-1D (the UCI digits
are too easy for this: with 150 examples the unregularised MLP already reaches ~94% validation
accuracy, a 6-point gap), trained with Adam for a fixed number of epochs, once unregularised and
once with each regulariser at a conventional setting: dropout 0.5 after every hidden layer
(`plain_mlp(dropout=...)`), L2 weight decay on every kernel (`with_kernel_l2`, kzoo's training
engine's), Keras' `EarlyStopping` on the validation loss (best weights restored), and random
shifts of the sequence by up to 10% of its length (`keras.layers.RandomTranslation`, whole steps,
the vacated steps set to the training mean; up to one pixel for digits), active only in training
-- MNIST-1D's own generator places its digits by random translations. Measured on the training
subset (inference mode, no augmentation), a validation set (which early stopping watches) and the
untouched test split.

The claim is read per seed (the seed draws the subset, the weights, the batch order, the masks and
the shifts): every regulariser's validation - training cross-entropy gap at most `gap_ratio` (0.7)
of the unregularised run's. Over its 3 seeds the lesson takes about 80 s on 2 CPU cores.

Reference: Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov. "Dropout: A Simple Way to
Prevent Neural Networks from Overfitting." JMLR 2014; Goodfellow, Bengio, Courville. "Deep
Learning", Chapter 7 (weight decay, early stopping, dataset augmentation).
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.model_selection import train_test_split

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results
from kzoo.training.regularization import with_kernel_l2

LESSON = "regularization"
CLAIM = ("Trained on 1,000 MNIST-1D examples, dropout, weight decay, early stopping and random "
         "shifts each cut the MLP's validation - training cross-entropy gap to at most 0.7 of the "
         "unregularised gap.")
PAPER = "Srivastava et al. 2014, Dropout, JMLR; Goodfellow et al. 2016, Deep Learning, Ch. 7"
SEEDS = (0, 1, 2)
METHODS = ("none", "dropout", "weight decay", "early stopping", "augmentation")
DATASETS = ("mnist1d", "digits")


def _splits(dataset, train_size, validation_size, seed):
    a = kzoo.data.load_arrays(dataset)
    x, y = a["x_train"].astype("float32"), a["y_train"]
    if train_size + validation_size > len(x):
        raise ValueError(f"`train_size` + `validation_size` must be <= {len(x)} ({dataset}); "
                         f"received {train_size} + {validation_size}.")
    train, val = train_test_split(np.arange(len(x)), train_size=train_size,
                                  test_size=validation_size, stratify=y, random_state=seed)
    # One mean and std over every value: a shift of the input must not change its statistics.
    mean, std = x[train].mean(), x[train].std()
    norm = lambda v: (v.astype("float32") - mean) / std  # noqa: E731
    return {"train": (norm(x[train]), y[train]), "validation": (norm(x[val]), y[val]),
            "test": (norm(a["x_test"]), a["y_test"])}


def _shift_layer(shape, shift, seed):
    """Random whole-step translation by up to `shift` of the length (sequences) or of each side
    (images), filling with 0 (the training mean); the identity at inference."""
    # Keras' fill_mode="wrap" repeats one step at the seam, so no circular shift here.
    if len(shape) == 2:  # (length, channels): translate as a (length, 1) image
        return keras.Sequential([
            keras.layers.Reshape((shape[0], 1, shape[1])),
            keras.layers.RandomTranslation(shift, 0.0, fill_mode="constant", interpolation="nearest",
                                           seed=seed),
            keras.layers.Reshape(shape),
        ], name="augment")
    return keras.layers.RandomTranslation(shift, shift, fill_mode="constant",
                                          interpolation="nearest", seed=seed, name="augment")


def _model(method, shape, classes, *, depth, width, dropout, weight_decay, shift, seed):
    model = kzoo.create_model("plain_mlp", depth=depth, width=width, activation="relu",
                              dropout=dropout if method == "dropout" else 0.0,
                              input_shape=shape, classes=classes)
    if method == "weight decay":
        model = with_kernel_l2(model, weight_decay)
    if method == "augmentation":
        inputs = keras.Input(shape)
        model = keras.Model(inputs, model(_shift_layer(shape, shift, seed)(inputs)))
    return model


def _evaluate(model, splits):
    out = {}
    for split, (x, y) in splits.items():
        values = model.evaluate(x, y, batch_size=1024, verbose=0, return_dict=True)
        out[split] = {"accuracy": float(values["accuracy"]),
                      "cross_entropy": float(values["cross_entropy"])}
    return out


def run(out_dir, *, seed=0, smoke=False, methods=METHODS, dataset="mnist1d", train_size=None,
        validation_size=None, depth=2, width=256, epochs=None, batch_size=64, learning_rate=1e-3,
        dropout=0.5, weight_decay=1e-2, patience=10, shift=0.1, gap_ratio=0.7) -> dict:
    """Train the MLP on a small subset without and with each regulariser; compare the gaps.

    Args:
        out_dir: output directory.
        seed: random seed (subset, weights, batch order, dropout masks, shifts).
        smoke: a seconds-long configuration (200 training and 200 validation examples,
            3 epochs); its numbers are not evidence.
        methods: a subset of `METHODS`; must include "none" (the baseline).
        dataset: "mnist1d" or "digits".
        train_size: examples in the training subset (default 1,000; smoke 200).
        validation_size: validation examples, drawn from the rest of the training split
            (default 1,000; smoke 200).
        depth, width: hidden layers and units of the ReLU MLP.
        epochs: training epochs (default 40, where the unregularised gap has opened to ~2 nats and
            keeps widening slowly; smoke 3); early stopping may stop sooner.
        batch_size, learning_rate: Adam minibatch size and rate, the same for every run.
        dropout: dropout rate after every hidden layer.
        weight_decay: lambda of the L2 penalty lambda/2 ||W||^2 on every kernel (1e-3 barely
            changes this network at this data size).
        patience: early stopping's epochs without a lower validation loss.
        shift: the largest random shift, as a fraction of the length (mnist1d) or side (digits).
        gap_ratio: a regulariser counts when its validation - training cross-entropy gap is at
            most this fraction of the baseline's.

    Returns:
        `results[method][split]` (accuracy, cross_entropy for train / validation / test),
        `gap[method]` (accuracy gap train - validation, cross-entropy gap validation - train),
        `curves[method]` (per-epoch logs), `early_stopping` (best and last epoch),
        `claim_holds` (every regulariser's cross-entropy gap <= gap_ratio x the baseline's) and a
        one-line `conclusion`.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or "none" not in methods:
        raise ValueError(f"`methods` must include 'none' and come from {METHODS}; "
                         f"received methods={tuple(methods)!r}.")
    if dataset not in DATASETS:
        raise ValueError(f"`dataset` must be one of {DATASETS}; received dataset={dataset!r}.")
    train_size = (200 if smoke else 1000) if train_size is None else train_size
    validation_size = (200 if smoke else 1000) if validation_size is None else validation_size
    epochs = (3 if smoke else 40) if epochs is None else epochs
    for name, value in (("train_size", train_size), ("validation_size", validation_size),
                        ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")
    splits = _splits(dataset, train_size, validation_size, seed)
    x, y = splits["train"]
    classes = int(y.max()) + 1
    results, curves, early = {}, {}, None
    for method in methods:
        seed_everything(seed)
        model = _model(method, x.shape[1:], classes, depth=depth, width=width, dropout=dropout,
                       weight_decay=weight_decay, shift=shift, seed=seed)
        model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                      metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(
                          name="cross_entropy")], jit_compile=False)
        callbacks = []
        if method == "early stopping":
            stopper = keras.callbacks.EarlyStopping(monitor="val_loss", mode="min",
                                                    patience=patience, restore_best_weights=True)
            callbacks.append(stopper)
        # One validation batch per epoch: the numbers are the same, the overhead is not.
        hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                         validation_data=splits["validation"], validation_batch_size=1024,
                         callbacks=callbacks)
        curves[method] = {k: [float(v) for v in hist.history[k]]
                          for k in ("cross_entropy", "val_cross_entropy", "accuracy",
                                    "val_accuracy")}
        if method == "early stopping":
            early = {"best_epoch": stopper.best_epoch + 1, "epochs_run": len(hist.history["loss"])}
        results[method] = _evaluate(model, splits)
        keras.backend.clear_session()

    if early and "none" in curves:  # the unregularised run is the one early stopping would cut
        val = curves["none"]["val_cross_entropy"]
        early.update(val_cross_entropy_at_best=val[early["best_epoch"] - 1],
                     val_cross_entropy_at_end=val[-1])
    gap = {m: {"accuracy": r["train"]["accuracy"] - r["validation"]["accuracy"],
               "cross_entropy": r["validation"]["cross_entropy"] - r["train"]["cross_entropy"]}
           for m, r in results.items()}
    base = gap["none"]["cross_entropy"]
    regularisers = [m for m in methods if m != "none"]
    narrower = {m: gap[m]["cross_entropy"] <= gap_ratio * base for m in regularisers}
    claim = bool(regularisers) and all(narrower.values())
    numbers = dict(dataset=dataset, seed=seed, train_size=train_size,
                   validation_size=validation_size, test_size=len(splits["test"][1]),
                   depth=depth, width=width, epochs=epochs, batch_size=batch_size,
                   learning_rate=learning_rate, dropout=dropout, weight_decay=weight_decay,
                   patience=patience, shift=shift, gap_ratio=gap_ratio, methods=list(methods),
                   results=results, gap=gap, narrower_gap=narrower, curves=curves,
                   early_stopping=early, claim_holds=claim,
                   conclusion=_conclusion(results, gap, early, train_size, dataset, epochs))
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _conclusion(results, gap, early, train_size, dataset, epochs):
    base = results["none"]["validation"]["accuracy"]
    parts = [f"{m}: gap {gap[m]['cross_entropy']:.2f} nats / {gap[m]['accuracy']:.0%}, "
             f"val acc {results[m]['validation']['accuracy'] - base:+.1%}"
             for m in results if m != "none"]
    text = (f"On {train_size} {dataset} examples the unregularised MLP ends {epochs} epochs with a "
            f"validation - training cross-entropy gap of {gap['none']['cross_entropy']:.2f} nats "
            f"(accuracy {results['none']['train']['accuracy']:.0%} train vs {base:.0%} "
            f"validation); " + "; ".join(parts))
    if early:
        text += (f" (early stopping keeps epoch {early['best_epoch']} of {early['epochs_run']} "
                 f"run: validation cross-entropy {early['val_cross_entropy_at_best']:.2f} there, "
                 f"{early['val_cross_entropy_at_end']:.2f} at the unregularised run's end)")
    return text + "."


def headline(result) -> dict:
    """Each regulariser's cross-entropy gap as a fraction of the unregularised run's."""
    base = result["gap"]["none"]["cross_entropy"]
    return {f"{m}: cross-entropy gap / unregularised gap (ratio)":
            result["gap"][m]["cross_entropy"] / base if base else None
            for m in result["methods"] if m != "none"}


def figure_over_seeds(results):
    """Every seed's gap ratio and validation accuracy per method, as points beside their mean."""
    import matplotlib.pyplot as plt

    methods = results[0]["methods"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.4), layout="constrained")
    pos = np.arange(len(methods))
    jitter = np.linspace(-0.12, 0.12, len(results))
    for i, m in enumerate(methods):
        ratios = [r["gap"][m]["cross_entropy"] / r["gap"]["none"]["cross_entropy"]
                  for r in results]
        accs = [r["results"][m]["validation"]["accuracy"] for r in results]
        color = "0.4" if m == "none" else "tab:purple"
        for ax, values in ((ax1, ratios), (ax2, accs)):
            ax.plot(i + jitter, values, "o", color=color, alpha=0.8)
            ax.hlines(np.mean(values), i - 0.25, i + 0.25, color=color, lw=2)
    ax1.axhline(results[0]["gap_ratio"], color="tab:red", ls=":",
                label=f"claim: at most {results[0]['gap_ratio']:g} of the unregularised gap")
    ax1.set(ylim=(0, 1.1), ylabel="cross-entropy gap / unregularised gap",
            title="validation - training cross-entropy gap, relative to no regulariser")
    ax1.legend(fontsize=8, loc="upper right")
    ax2.set(ylim=(0, 1), ylabel="validation accuracy", title="validation accuracy")
    for ax in (ax1, ax2):
        ax.set_xticks(pos, methods, fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    n = results[0]
    fig.suptitle(f"Regularisation on {n['train_size']} {n['dataset']} examples, "
                 f"{n['depth']}x{n['width']} ReLU MLP, {n['epochs']} epochs: each dot one seed "
                 f"({', '.join(str(r['seed']) for r in results)}), bar the mean")
    return fig


def _figure(n):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 4.8), layout="constrained")
    methods = n["methods"]
    pos = np.arange(len(methods))
    res = n["results"]
    for off, split, color in ((-0.27, "train", "tab:blue"), (0.0, "validation", "tab:orange"),
                              (0.27, "test", "tab:green")):
        ax1.bar(pos + off, [res[m][split]["accuracy"] for m in methods], 0.27, color=color,
                label=split)
    for i, m in enumerate(methods):
        top = res[m]["train"]["accuracy"]
        ax1.annotate(f"gap {n['gap'][m]['accuracy']:.0%}", (i, top), textcoords="offset points",
                     xytext=(0, 4), ha="center", fontsize=8)
    ax1.set(xticks=pos, ylim=(0, 1.25), ylabel="accuracy",
            title="accuracy; gap = train - validation")
    ax1.set_xticklabels(methods, fontsize=8)
    ax1.legend(fontsize=8, loc="upper center", ncol=3)

    gaps = [n["gap"][m]["cross_entropy"] for m in methods]
    ax2.bar(pos, gaps, color=["0.4"] + ["tab:purple"] * (len(methods) - 1))
    ax2.axhline(n["gap_ratio"] * gaps[0], color="tab:red", ls=":",
                label=f"{n['gap_ratio']:g} x the unregularised gap")
    for i, g in enumerate(gaps):
        ax2.annotate(f"{g:.2f}", (i, g), textcoords="offset points", xytext=(0, 3), ha="center",
                     fontsize=8)
    ax2.set(xticks=pos, ylabel="validation - training cross-entropy (nats)",
            title="generalisation gap in cross-entropy")
    ax2.set_xticklabels(methods, fontsize=8)
    ax2.legend(fontsize=8)

    c = n["curves"]["none"]
    epochs = np.arange(1, len(c["cross_entropy"]) + 1)
    ax3.plot(epochs, c["cross_entropy"], color="tab:blue", label="training cross-entropy")
    ax3.plot(epochs, c["val_cross_entropy"], color="tab:orange",
             label="validation cross-entropy")
    ax3.set(xlabel="epoch", ylabel="cross-entropy (nats, log scale)", yscale="log",
            title="unregularised run: where early stopping stops")
    twin = ax3.twinx()
    twin.plot(epochs, c["val_accuracy"], color="tab:orange", ls="--", alpha=0.7,
              label="validation accuracy (right)")
    twin.set(ylabel="validation accuracy", ylim=(0, 1))
    early = n["early_stopping"]
    if early:
        ax3.axvline(early["best_epoch"], color="tab:green", ls="-",
                    label=f"best epoch {early['best_epoch']} (weights kept)")
        ax3.axvline(early["epochs_run"], color="tab:green", ls=":",
                    label=f"stopped at epoch {early['epochs_run']} (patience {n['patience']})")
    lines = ax3.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax3.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="center right")
    for a in (ax1, ax2, ax3):
        a.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"Regularisation on {n['train_size']} {n['dataset']} training examples "
                 f"({n['depth']}x{n['width']} ReLU MLP, Adam {n['learning_rate']:g}, "
                 f"{n['epochs']} epochs, seed {n['seed']}; validation {n['validation_size']}, "
                 f"test {n['test_size']})")
    return fig
