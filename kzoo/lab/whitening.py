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
The two models are trained in NumPy, every learning rate at once from the same initial weights and
batches, and stop at the first epoch any rate reaches the target (slower rates cannot change the
fewest epochs). On digits "standardize" is one shift and scale of all pixels, so it barely helps
over raw there; whitening does.

Over 5 seeds (each its own hold-out, initial weights and batch order): about 35 s on 2 cores.

Reference: LeCun, Bottou, Orr, Mueller. "Efficient BackProp." 1998, Sec. 4.3 (normalising the
inputs); CS231n's data preprocessing notes.
"""

from __future__ import annotations

import numpy as np

import kzoo
import kzoo.data
from kzoo.data.normalize import fit_normalization
from kzoo.lab._common import write_results

LESSON = "whitening"
CLAIM = ("Standardising and ZCA whitening lower the condition number of the inputs' second "
         "moments (raw > standardised > whitened, below 100) and speed up SGD: at the best of 7 "
         "learning rates, whitened inputs reach 97% training accuracy in fewer epochs than raw "
         "ones for logistic regression and an MLP on breast cancer and digits, and on breast "
         "cancer raw inputs never reach it in 30 epochs while standardised ones do.")
PAPER = "LeCun et al. 1998, Efficient BackProp, Sec. 4.3; CS231n data preprocessing"
SEEDS = (0, 1, 2, 3, 4)  # several seconds each
DATASETS = {"breast_cancer": 0.97, "digits": 0.97}  # data set -> target training accuracy
METHODS = {"raw": ("none", {}), "centred": ("center", {}),
           "standardised": ("standardize", {}), "PCA (decorrelated)": ("pca", {}),
           "whitened (ZCA)": ("zca", {"zca_epsilon": 1e-5})}
TRAINED = ("raw", "centred", "standardised", "whitened (ZCA)")
LEARNING_RATES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
MODELS = ("logistic regression", "MLP")
HIDDEN = 64  # the MLP's one hidden ReLU layer
WHITE_CONDITION = 100  # the claim: whitened inputs' condition number below this
SCALES_APART = ("breast_cancer",)  # features 0.001 .. 2,500: raw inputs never reach the target
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


def _glorot(rng, fan_in, fan_out, rates):
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # Keras's default Dense kernel initialiser
    return np.repeat(rng.uniform(-limit, limit, (1, fan_in, fan_out)), rates, axis=0)


def _initial(kind, features, classes, rates, rng):
    # One copy of the same initial weights per learning rate; biases start at zero.
    if kind == "logistic regression":
        return [_glorot(rng, features, classes, rates), np.zeros((rates, classes))]
    return [_glorot(rng, features, HIDDEN, rates), np.zeros((rates, HIDDEN)),
            _glorot(rng, HIDDEN, classes, rates), np.zeros((rates, classes))]


def _forward(params, x):
    """Softmax probabilities (rates, examples, classes) and the hidden ReLU activations."""
    if len(params) == 2:
        hidden, (w, b) = None, params
        logits = x @ w + b[:, None]
    else:
        w1, b1, w2, b2 = params
        hidden = np.maximum(x @ w1 + b1[:, None], 0.0)
        logits = hidden @ w2 + b2[:, None]
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True), hidden


def _gradients(params, x, onehot):
    """Gradients of the mean cross-entropy over the batch, per learning rate's copy."""
    p, hidden = _forward(params, x)
    g = (p - onehot) / len(x)
    if hidden is None:
        return [x.T @ g, g.sum(axis=1)]
    gh = (g @ params[2].transpose(0, 2, 1)) * (hidden > 0)
    return [x.T @ gh, gh.sum(axis=1),
            hidden.transpose(0, 2, 1) @ g, g.sum(axis=1)]


def _accuracy(params, x, y):
    return (_forward(params, x)[0].argmax(axis=-1) == y).mean(axis=1)


def epochs_to_target(kind, data, target, learning_rates, epochs, seed, batch_size=32):
    """Train by minibatch SGD, one run per learning rate, until the accuracy on the whole
    training part reaches `target`.

    Every rate's run starts from the same initial weights and sees the same batches; all stop at
    the first epoch in which some rate reaches the target. Returns per learning rate (the epochs
    it needed, or None if it did not reach the target by then; the held-out accuracy at its
    last epoch, NaN if its weights diverged).
    """
    # Plain NumPy, every learning rate at once: the models are tiny, so a Keras fit per rate
    # spends nearly all its time in per-fit and per-epoch overhead (minutes per seed).
    x, y, xv, yv = data
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    xv = np.asarray(xv, np.float64).reshape(len(xv), -1)
    rates = np.asarray(learning_rates, np.float64)
    classes = int(max(y.max(), yv.max())) + 1
    rng = np.random.default_rng(seed)
    params = _initial(kind, x.shape[1], classes, len(rates), rng)
    onehot = np.eye(classes)[y]
    reached = [None] * len(rates)
    held_out = np.full(len(rates), np.nan)
    diverged = np.zeros(len(rates), bool)
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            training = ~diverged & np.array([e is None for e in reached])
            if not training.any():
                break
            step = np.where(training, rates, 0.0)  # a finished run keeps its weights
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch_size):
                batch = order[start:start + batch_size]
                grads = _gradients(params, x[batch], onehot[batch])
                params = [p - step.reshape((-1,) + (1,) * (p.ndim - 1)) * g
                          for p, g in zip(params, grads, strict=True)]
            finite = np.all([np.isfinite(p).reshape(len(rates), -1).all(axis=1) for p in params],
                            axis=0)
            diverged |= ~finite
            params = [np.where(finite.reshape((-1,) + (1,) * (p.ndim - 1)), p, 0.0)
                      for p in params]
            accuracy, held = _accuracy(params, x, y), _accuracy(params, xv, yv)
            for k in np.flatnonzero(training & finite):
                if accuracy[k] >= target:
                    reached[k] = epoch
                held_out[k] = held[k]
            if any(e is not None for e in reached):
                break  # the slower rates cannot change the fewest epochs: stop them here
    held_out[diverged] = np.nan
    return {float(lr): (reached[k], float(held_out[k])) for k, lr in enumerate(rates)}


def run(out_dir, *, seed=0, smoke=False, epochs=None, learning_rates=None, datasets=None) -> dict:
    """Condition numbers and epochs to the target per normalisation; write whitening.png / .json.

    Returns per data set the `condition` number (and spanned dimensions) of every normalisation,
    and per model and trained normalisation the fewest `epochs` to the training-accuracy target
    over the learning rates (with that rate and its held-out accuracy; every rate's outcome in
    `runs`), `claim_holds` -- on every data set the condition number falls raw -> standardised ->
    whitened, below `WHITE_CONDITION`, and PCA's equals that of the examples minus the mean
    example; whitened inputs reach the target in fewer epochs than raw for both models; on
    `SCALES_APART` data sets raw inputs never reach it and standardised ones do -- and a
    `conclusion`.
    """
    epochs = epochs or (3 if smoke else 30)
    learning_rates = tuple(learning_rates or ((1e-2, 1.0) if smoke else LEARNING_RATES))
    datasets = list(datasets or (["breast_cancer"] if smoke else DATASETS))
    results = {}
    for dataset in datasets:
        x, y, xv, yv = split(dataset, seed)
        target = DATASETS.get(dataset, 0.9)
        entry = {"target": target, "condition": {}, "dimensions": {}, "epochs": {}, "lr": {},
                 "held_out_accuracy": {}, "runs": {}}
        for method, (normalize, options) in METHODS.items():
            norm = fit_normalization(x, normalize, **options)
            z, zv = norm.apply_numpy(x), norm.apply_numpy(xv)
            entry["condition"][method], entry["dimensions"][method] = condition_number(z)
            if normalize == "pca":  # a rotation of the examples minus the mean example
                entry["condition"]["minus mean example"] = condition_number(x - norm.mean)[0]
            if method not in TRAINED:
                continue
            for kind in MODELS:
                runs = epochs_to_target(kind, (z, y, zv, yv), target, learning_rates, epochs,
                                        seed)
                reached = {lr: e for lr, (e, _) in runs.items() if e is not None}
                best_lr = min(reached, key=lambda lr: (reached[lr], lr)) if reached else None
                entry["epochs"].setdefault(kind, {})[method] = reached.get(best_lr)
                entry["lr"].setdefault(kind, {})[method] = best_lr
                entry["held_out_accuracy"].setdefault(kind, {})[method] = (
                    None if best_lr is None else runs[best_lr][1])
                entry["runs"].setdefault(kind, {})[method] = {
                    f"{lr:g}": {"epochs": e, "held_out_accuracy": a} for lr, (e, a) in runs.items()}
        results[dataset] = entry
    claim = all(_claim(dataset, entry) for dataset, entry in results.items())
    numbers = dict(epochs=epochs, learning_rates=list(learning_rates), seed=seed,
                   results=results, claim_holds=bool(claim), conclusion=_conclusion(results))
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _claim(dataset, entry) -> bool:
    cond = entry["condition"]
    ordered = cond["raw"] > cond["standardised"] > cond["whitened (ZCA)"]
    white = cond["whitened (ZCA)"] < WHITE_CONDITION
    rotation = np.isclose(cond["PCA (decorrelated)"], cond["minus mean example"], rtol=1e-2)

    def fewer(a, b):  # a reaches the target, in fewer epochs than b or b never does
        return a is not None and (b is None or a < b)

    faster = all(fewer(e["whitened (ZCA)"], e["raw"]) for e in entry["epochs"].values())
    if dataset in SCALES_APART:
        faster = faster and all(e["raw"] is None and e["standardised"] is not None
                                for e in entry["epochs"].values())
    return bool(ordered and white and rotation and faster)


def headline(result) -> dict:
    """Whitened inputs' condition number, and the epochs each preprocessing needs."""
    results = result["results"]

    def epochs(method, datasets, pick):
        values = [e["epochs"][kind][method] for d, e in results.items() if d in datasets
                  for kind in e["epochs"]]
        return None if not values or None in values else float(pick(values))

    return {
        "condition number, whitened inputs (largest over data sets)":
            max(e["condition"]["whitened (ZCA)"] for e in results.values()),
        "epochs to the target, whitened inputs (slowest model and data set)":
            epochs("whitened (ZCA)", results, max),
        "epochs to the target, standardised inputs (slowest model and data set)":
            epochs("standardised", results, max),
        "epochs to the target, raw digits (faster model)": epochs("raw", ["digits"], min),
    }


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


def figure_over_seeds(results):
    """Every seed as a point: condition numbers, and epochs to the target per model and data set."""
    import matplotlib.pyplot as plt

    datasets = list(results[0]["results"])
    budget = results[0]["epochs"]
    fig, axes = plt.subplots(1, 1 + len(datasets), figsize=(5.2 * (1 + len(datasets)), 4.2),
                             squeeze=False)
    ax, methods = axes[0][0], list(METHODS)
    jitter = np.linspace(-0.12, 0.12, len(results))
    for k, dataset in enumerate(datasets):
        for s, r in enumerate(results):
            cond = r["results"][dataset]["condition"]
            ax.plot(np.arange(len(methods)) + jitter[s], [cond[m] for m in methods], "o",
                    color=f"C{k}", ms=4, alpha=0.8, label=dataset if s == 0 else None)
    ax.axhline(WHITE_CONDITION, color="0.5", ls=":", lw=1)
    ax.set_xticks(range(len(methods)), [m.replace(" (", "\n(") for m in methods], fontsize=8)
    ax.set(yscale="log", ylabel="condition number of E[(z,1)(z,1)^T]",
           title=f"what gradient descent sees ({len(results)} seeds)")
    ax.legend(fontsize=8)
    for ax, dataset in zip(axes[0][1:], datasets, strict=True):
        for k, kind in enumerate(MODELS):
            for s, r in enumerate(results):
                epochs = r["results"][dataset]["epochs"][kind]
                values = [budget + 1 if epochs[m] is None else epochs[m] for m in TRAINED]
                ax.plot(np.arange(len(TRAINED)) + (k - 0.5) * 0.3 + jitter[s] / 2, values, "o",
                        color=f"C{k + 2}", ms=4, alpha=0.8, label=kind if s == 0 else None)
        ax.axhline(budget + 1, color="0.5", ls=":", lw=1)
        ax.text(-0.4, budget + 1, f"never (in {budget})", va="bottom", fontsize=7)
        ax.set_xticks(range(len(TRAINED)), [m.split(" ")[0] for m in TRAINED])
        target = results[0]["results"][dataset]["target"]
        ax.set(ylabel=f"epochs to {target:.0%} training accuracy (log)", yscale="log",
               title=f"{dataset}: SGD, best of {len(results[0]['learning_rates'])} rates")
        ax.legend(fontsize=8)
    fig.suptitle("Zero-centring, scaling and whitening the inputs over seeds: conditioning and "
                 "SGD speed", fontsize=10)
    fig.tight_layout()
    return fig
