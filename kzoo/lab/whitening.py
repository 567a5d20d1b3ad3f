"""Lesson -- Data preprocessing: zero-centring, scaling, decorrelation (PCA) and whitening (ZCA).

The lecture (CS231n, seeds 003-004): zero-centre the data; normalise it; "in practice you may also
see PCA and whitening". Without it "the classification loss is very sensitive to changes in the
weight matrix: hard to optimise"; with it, "less sensitive, easier to optimise". For gradient
descent on a linear model that sensitivity is the condition number of the second-moment matrix
E[(z, 1)(z, 1)^T] of the inputs z (with the bias's constant 1): the ratio of the steepest to the
flattest curvature of the squared loss. Centring removes the mean's direction, scaling equalises
the features, whitening makes every direction alike; a PCA rotation alone changes nothing a
gradient step sees.

The experiment, with `kzoo.data`'s normalisations fitted on a training part (a seeded 80 / 20
hold-out of each data set's training split): for a UCI table (breast cancer: 30 features from
~0.001 to ~2,500) and the UCI digits (8x8 pixels, 0..16), the condition number of each
normalisation's inputs, then logistic regression and a one-hidden-layer ReLU MLP trained by
minibatch SGD over a grid of learning rates: the fewest epochs any learning rate needs to reach a
target accuracy on the training part (the optimisation the lecture speaks of), and the held-out
accuracy of that run (what the optimisation bought). kzoo's "center" and "standardize" are per
channel: per feature for the table, one mean (and scale) for all 64 pixels of the digits; "pca"
subtracts the mean example, so its condition number is compared with that of x - mean example.
"""

from __future__ import annotations

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.data.normalize import fit_normalization
from kzoo.lab._common import seed_everything, write_results

LESSON = "whitening"
DATASETS = {"breast_cancer": 0.97, "digits": 0.97}  # data set -> target training accuracy
METHODS = {"raw": ("none", {}), "centred": ("center", {}),
           "standardised": ("standardize", {}), "PCA (decorrelated)": ("pca", {}),
           "whitened (ZCA)": ("zca", {"zca_epsilon": 1e-5})}
TRAINED = ("raw", "centred", "standardised", "whitened (ZCA)")
LEARNING_RATES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MODELS = ("logistic regression", "MLP")
_RANK_TOLERANCE = 1e-12  # eigenvalues below this fraction of the largest: a direction with no data


def split(dataset, seed, validation=0.2):
    """A seeded hold-out of the training split: (x_train, y_train, x_val, y_val), raw."""
    arrays = kzoo.data.load_arrays(dataset)
    x, y = arrays["x_train"], arrays["y_train"]
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(len(x) * validation)
    return x[order[n_val:]], y[order[n_val:]], x[order[:n_val]], y[order[:n_val]]


def condition_number(z) -> tuple[float, int]:
    """cond E[(z, 1)(z, 1)^T] over the directions the examples span, and their number.

    Digits have pixels that are 0 in every training image: no normalisation gives those
    directions any data, so they are left out rather than reported as an infinite condition.
    """
    flat = np.asarray(z, np.float64).reshape(len(z), -1)
    augmented = np.concatenate([flat, np.ones((len(flat), 1))], axis=1)
    values = np.linalg.eigvalsh(augmented.T @ augmented / len(flat))
    kept = values[values > _RANK_TOLERANCE * values.max()]
    return float(kept.max() / kept.min()), int(len(kept))


def _model(kind, input_shape, classes):
    if kind == "logistic regression":
        inputs = keras.Input(input_shape)
        outputs = keras.layers.Dense(classes, "softmax")(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, outputs)
    return kzoo.create_model("plain_mlp", depth=1, width=64, activation="relu",
                             input_shape=input_shape, classes=classes)


class _StopAtTarget(keras.callbacks.Callback):
    # Fit's "validation" set is the training part itself: its epoch-end accuracy over all of it.
    def __init__(self, target):
        super().__init__()
        self.target, self.epoch = target, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not np.isfinite(logs.get("loss", 0.0)):  # diverged (silently, unlike TerminateOnNaN)
            self.model.stop_training = True
        elif self.epoch is None and logs.get("val_accuracy", 0.0) >= self.target:
            self.epoch = epoch + 1
            self.model.stop_training = True


def epochs_to_target(kind, data, target, lr, epochs, seed, batch_size=32):
    """Train by SGD until the accuracy on the whole training part reaches `target`.

    Returns (epochs needed or None if not within `epochs`, the held-out accuracy at the end; NaN
    if the loss diverged).
    """
    x, y, xv, yv = data
    seed_everything(seed)
    model = _model(kind, x.shape[1:], int(y.max()) + 1)
    steps = -(-len(x) // batch_size)
    # One compiled call per epoch (steps_per_execution): these models are tiny, so per-step
    # dispatch would dominate the lesson's run time.
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False, steps_per_execution=steps)
    stop = _StopAtTarget(target)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                        validation_data=(x, y), callbacks=[stop])
    diverged = not np.all(np.isfinite(history.history.get("loss", [np.nan])))
    held_out = np.nan if diverged else float(model.evaluate(xv, yv, verbose=0)[1])
    keras.backend.clear_session()
    return stop.epoch, held_out


def run(out_dir, *, seed=0, smoke=False, epochs=None, learning_rates=None, datasets=None) -> dict:
    """Condition numbers and epochs to the target per normalisation; write whitening.png / .json.

    Returns per data set the `condition` number (and spanned dimensions) of every normalisation,
    and per model and trained normalisation the fewest `epochs` to the training-accuracy target
    over the learning rates (with that rate and its held-out accuracy), `claim_holds` -- the
    condition number falls raw -> standardised -> whitened and PCA's equals that of the examples
    minus the mean example; whitened inputs reach the target in no more epochs than standardised,
    and standardised in fewer than raw, for both models on both data sets -- and a `conclusion`.
    """
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # every fit builds a new model: retracing is expected
    epochs = epochs or (3 if smoke else 30)
    learning_rates = tuple(learning_rates or ((1e-2, 1.0) if smoke else LEARNING_RATES))
    datasets = list(datasets or (["breast_cancer"] if smoke else DATASETS))
    results = {}
    for dataset in datasets:
        x, y, xv, yv = split(dataset, seed)
        target = DATASETS.get(dataset, 0.9)
        entry = {"target": target, "condition": {}, "dimensions": {}, "epochs": {}, "lr": {},
                 "held_out_accuracy": {}}
        for method, (normalize, options) in METHODS.items():
            norm = fit_normalization(x, normalize, **options)
            z, zv = norm.apply_numpy(x), norm.apply_numpy(xv)
            entry["condition"][method], entry["dimensions"][method] = condition_number(z)
            if normalize == "pca":  # a rotation of the examples minus the mean example
                entry["condition"]["minus mean example"] = condition_number(x - norm.mean)[0]
            if method not in TRAINED:
                continue
            for kind in MODELS:
                runs = {}
                for lr in learning_rates:
                    runs[lr] = epochs_to_target(kind, (z, y, zv, yv), target, lr, epochs, seed)
                    if np.isnan(runs[lr][1]) or runs[lr][0] == 1:
                        break  # diverged (so would every larger rate), or no rate can do better
                reached = {lr: e for lr, (e, _) in runs.items() if e is not None}
                best_lr = min(reached, key=lambda lr: (reached[lr], lr)) if reached else None
                entry["epochs"].setdefault(kind, {})[method] = reached.get(best_lr)
                entry["lr"].setdefault(kind, {})[method] = best_lr
                entry["held_out_accuracy"].setdefault(kind, {})[method] = (
                    None if best_lr is None else runs[best_lr][1])
        results[dataset] = entry
    claim = all(_claim(entry) for entry in results.values())
    numbers = dict(epochs=epochs, learning_rates=list(learning_rates), seed=seed,
                   results=results, claim_holds=bool(claim), conclusion=_conclusion(results))
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _claim(entry) -> bool:
    cond = entry["condition"]
    ordered = cond["raw"] > cond["standardised"] > cond["whitened (ZCA)"]
    rotation = np.isclose(cond["PCA (decorrelated)"], cond["minus mean example"], rtol=1e-2)

    def fewer(a, b):  # a reaches the target, in fewer epochs than b or b never does
        return a is not None and (b is None or a < b)

    faster = all(
        fewer(e["standardised"], e["raw"])
        and e["whitened (ZCA)"] is not None and e["whitened (ZCA)"] <= e["standardised"]
        for e in entry["epochs"].values()
    )
    return bool(ordered and rotation and faster)


def _conclusion(results) -> str:
    parts = []
    for dataset, entry in results.items():
        cond = entry["condition"]
        conds = ", ".join(f"{m.split(' ')[0]} {cond[m]:.1e}" for m in
                          ("raw", "centred", "standardised", "whitened (ZCA)"))
        epochs = "; ".join(
            f"{kind}: " + ", ".join(f"{m.split(' ')[0]} {_text(e[m])}" for m in TRAINED)
            for kind, e in entry["epochs"].items())
        held = "; ".join(
            f"{kind}: " + ", ".join(f"{m.split(' ')[0]} {_percent(a[m])}" for m in TRAINED)
            for kind, a in entry["held_out_accuracy"].items())
        parts.append(f"{dataset}: condition number {conds}; PCA {cond['PCA (decorrelated)']:.1e}"
                     f" = the examples minus the mean example, {cond['minus mean example']:.1e}."
                     f" Epochs to {entry['target']:.0%} training accuracy at the best SGD rate "
                     f"-- {epochs}. Held-out accuracy of those runs -- {held}")
    return " | ".join(parts)


def _text(epochs) -> str:
    return "never" if epochs is None else str(epochs)


def _percent(accuracy) -> str:
    return "-" if accuracy is None else f"{accuracy:.1%}"


def _figure(n):
    import matplotlib.pyplot as plt

    results = n["results"]
    fig, axes = plt.subplots(1, 1 + len(results), figsize=(5.2 * (1 + len(results)), 4.2),
                             squeeze=False)
    ax = axes[0][0]
    methods = list(METHODS)
    width = 0.8 / len(results)
    for k, (dataset, entry) in enumerate(results.items()):
        ax.bar(np.arange(len(methods)) + k * width, [entry["condition"][m] for m in methods],
               width, label=dataset)
    pca = methods.index("PCA (decorrelated)")
    for k, entry in enumerate(results.values()):
        ax.plot(pca + k * width, entry["condition"]["minus mean example"], "kD", ms=5,
                label="examples minus the mean example" if k == 0 else None)
    ax.set_xticks(np.arange(len(methods)) + width * (len(results) - 1) / 2,
                  [m.replace(" (", "\n(") for m in methods], fontsize=8)
    ax.set(yscale="log", ylabel="condition number of E[(z,1)(z,1)^T]",
           title="what gradient descent sees")
    ax.legend(fontsize=8, loc="upper right")
    for ax, (dataset, entry) in zip(axes[0][1:], results.items(), strict=True):
        budget = n["epochs"]
        for k, (kind, epochs) in enumerate(entry["epochs"].items()):
            values = [budget + 1 if epochs[m] is None else epochs[m] for m in TRAINED]
            bars = ax.bar(np.arange(len(TRAINED)) + k * 0.4, values, 0.4, label=kind)
            for bar, m in zip(bars, TRAINED, strict=True):
                lr = entry["lr"][kind][m]
                ax.annotate("never" if lr is None else f"lr {lr:g}",
                            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
        ax.axhline(budget, color="0.5", ls=":", lw=1)
        ax.set_xticks(np.arange(len(TRAINED)) + 0.2, [m.split(" ")[0] for m in TRAINED])
        ax.set(ylabel=f"epochs to {entry['target']:.0%} training accuracy",
               title=f"{dataset}: SGD, best of {len(n['learning_rates'])} learning rates")
        ax.legend(fontsize=8)
    fig.suptitle("Zero-centring, scaling and whitening the inputs: conditioning and SGD speed",
                 fontsize=10)
    fig.tight_layout()
    return fig
