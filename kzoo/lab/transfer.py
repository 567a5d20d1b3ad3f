"""Lesson 14 -- Transfer learning: features learned on one task make a second task learnable from
a handful of examples.

The lecture ("Transfer learning", seed 004): a network trained on a large dataset has learned
features that are useful elsewhere; for a new task with little data, reuse it -- freeze it and
train a new classifier on its features, or fine-tune all of it with a small learning rate -- rather
than training from scratch.

The experiment, on MNIST-1D split into two tasks of five classes each (the training split's
digits 0-4, about 2,000 signals, and digits 5-9; one mean and standard deviation over the first
task's values normalise both): a 1-D plain CNN (`plain_cnn`, 7 convolutions with batch norm,
16/32/64 filters) is trained on all of digits 0-4 for 6 epochs (it reaches ~98% on their test
signals); then digits 5-9 are learned from n = 5 and 50 training examples per class (or any
`examples`), three ways, each for the same number of Adam steps (120) at the same learning rate:

- from scratch: the same architecture, random weights;
- frozen features: the pretrained weights loaded by kzoo's weights loader (the classifier
  replaced: a new task), every layer but the classifier frozen (`freeze="backbone"`; batch norm in
  inference mode) -- a linear classifier on the pretrained features;
- fine-tuned: the pretrained weights, every layer trained, the layers below the classifier at
  `backbone_lr_multiplier` times the rate (discriminative learning rates, Keras' MultiOptimizer).

Each (n, method) is repeated on `repeats` draws of the n examples per class (seeded; one draw by
default: the lesson's seeds give the repeats); the test accuracy on the ~500 test signals of
digits 5-9 is averaged. The claim: with the fewest examples the fine-tuned net beats training from
scratch by at least `min_gain`, and that gain shrinks as the examples grow. Over its 3 seeds the
lesson takes about 80 s on 2 CPU cores. (On the 8x8 UCI digits the same comparison shows nothing: a CNN trained from scratch
already reaches ~80% test accuracy from 5 examples per class, so there is nothing left to transfer.)

Reference: Yosinski, Clune, Bengio, Lipson, "How transferable are features in deep neural
networks?", NeurIPS 2014 (arXiv:1411.1792); Keras' transfer-learning guide
(https://keras.io/guides/transfer_learning/).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np

import kzoo
import kzoo.data
from kzoo.lab._common import seed_everything, write_results

LESSON = "transfer"
METHODS = ("scratch", "frozen", "fine-tuned")
CLAIM = ("Pretrained features make a new task learnable from few examples: with 5 examples per "
         "class a fine-tuned pretrained CNN beats the same CNN trained from scratch by at least 8 "
         "points of test accuracy, and the gain is smaller with 50 examples per class.")
PAPER = "Yosinski et al. 2014, How transferable are features in deep neural networks?, Fig. 2"
SEEDS = (0, 1, 2)
ARCHITECTURE = {"depth": 7, "width": 16}


def _tasks():
    """MNIST-1D's digits 0-4 and 5-9 (relabelled 0-4) as (x_train, y_train, x_test, y_test) each,
    normalised with the first task's mean and standard deviation."""
    a = kzoo.data.load_arrays("mnist1d")
    first, first_test = a["y_train"] < 5, a["y_test"] < 5
    mean, std = a["x_train"][first].mean(), a["x_train"][first].std()
    x, x_test = (a["x_train"] - mean) / std, (a["x_test"] - mean) / std
    split = lambda keep, keep_test, shift: (  # noqa: E731
        x[keep].astype("float32"), a["y_train"][keep] - shift,
        x_test[keep_test].astype("float32"), a["y_test"][keep_test] - shift)
    return split(first, first_test, 0), split(~first, ~first_test, 5)


def _subset(y, per_class, rng):
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False)
                           for c in np.unique(y)])


def _model(method, source, input_shape):
    from kzoo.models.pretrained import load_pretrained, resolve_weights

    model = kzoo.create_model("plain_cnn", input_shape=input_shape, classes=5, **ARCHITECTURE)
    if method != "scratch":  # a new task: the classifier starts afresh
        load_pretrained(model, resolve_weights(source), keep_classifier=False)
    return model


def _compile(model, method, learning_rate, multiplier, steps):
    from kzoo.training.config import TrainConfig
    from kzoo.training.engine import compile_for_training

    config = TrainConfig(
        model="plain_cnn", dataset="mnist1d", run_dir="-", optimizer="adam",
        learning_rate=learning_rate, schedule="constant",
        freeze="backbone" if method == "frozen" else None,
        backbone_lr_multiplier=multiplier if method == "fine-tuned" else 1.0,
    ).validate()
    return compile_for_training(config, model, steps)


def _fit(model, x, y, classes, steps, batch_size, rng):
    """Exactly `steps` Adam steps over reshuffled passes of (x, y)."""
    batch = min(batch_size, len(x))
    need = steps * batch
    order = np.concatenate([rng.permutation(len(x)) for _ in range(need // len(x) + 1)])[:need]
    targets = np.eye(classes, dtype="float32")[y[order]]
    model.fit(x[order], targets, batch_size=batch, epochs=1, shuffle=False, verbose=0)


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=512, verbose=0), -1) == y))


def run(out_dir, *, seed=0, smoke=False, examples=None, repeats=None, steps=None,
        pretrain_epochs=None, batch_size=32, learning_rate=3e-3,
        backbone_lr_multiplier=0.3, min_gain=0.08) -> dict:
    """Pretrain on MNIST-1D's digits 0-4, learn its digits 5-9 from few examples three ways;
    write transfer.png and transfer.json.

    Args:
        out_dir: output directory.
        seed: random seed (pretraining, subsets, weights, batch order).
        smoke: a seconds-long configuration (1 pretraining epoch, 30 steps; not evidence).
        examples: training examples per class of digits 5-9 (default 5 and 50).
        repeats: draws of the examples per n (default 1).
        steps: Adam steps of each digits 5-9 training (default 120; smoke 30).
        pretrain_epochs: epochs on digits 0-4 (default 6; smoke 1).
        batch_size, learning_rate: Adam's minibatch and rate, for every training.
        backbone_lr_multiplier: the fine-tuned backbone's rate relative to `learning_rate`.
        min_gain: the claim's margin of fine-tuning over scratch at the smallest n.

    Returns:
        `accuracy[method][n]` (mean over draws), `gain[n]` (fine-tuned - scratch), `runs` (every
        draw), `pretrain_accuracy` (digits 0-4 test), `claim_holds`, a one-line `conclusion`.
    """
    examples = (5, 50) if examples is None else tuple(examples)
    repeats = 1 if repeats is None else repeats
    steps = (30 if smoke else 120) if steps is None else steps
    pretrain_epochs = (1 if smoke else 6) if pretrain_epochs is None else pretrain_epochs
    for name, value in (("repeats", repeats), ("steps", steps), ("batch_size", batch_size),
                        ("pretrain_epochs", pretrain_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")
    if not examples or any(not isinstance(n, int) or not 1 <= n <= 300 for n in examples):
        raise ValueError(f"`examples` must be integers in [1, 300]; received examples={examples!r}.")
    (x0, y0, x0_test, y0_test), (x1, y1, x1_test, y1_test) = _tasks()

    seed_everything(seed)
    pretrained = kzoo.create_model("plain_cnn", input_shape=x0.shape[1:], classes=5,
                                   **ARCHITECTURE)
    pretrained.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    pretrained.fit(x0, y0, batch_size=batch_size, epochs=pretrain_epochs, shuffle=True, verbose=0)
    pretrain_accuracy = _accuracy(pretrained, x0_test, y0_test)

    runs = []
    with tempfile.TemporaryDirectory(prefix="kzoo-transfer-") as tmp:
        source = Path(tmp) / "mnist1d_0to4.weights.h5"
        pretrained.save_weights(source)
        keras.backend.clear_session()
        for n in examples:
            for r in range(repeats):
                rng = np.random.default_rng([seed, n, r])
                chosen = _subset(y1, n, rng)
                for method in METHODS:
                    seed_everything(seed * 1000 + r)
                    with warnings.catch_warnings():  # "classifier replaced": wanted here
                        warnings.simplefilter("ignore")
                        model = _model(method, source, x1.shape[1:])
                    model = _compile(model, method, learning_rate, backbone_lr_multiplier, steps)
                    _fit(model, x1[chosen], y1[chosen], 5, steps, batch_size,
                         np.random.default_rng([seed, n, r, 1]))
                    runs.append({"examples_per_class": n, "draw": r, "method": method,
                                 "test_accuracy": _accuracy(model, x1_test, y1_test)})
                    keras.backend.clear_session()
    accuracy = {m: {n: float(np.mean([q["test_accuracy"] for q in runs
                                      if q["method"] == m and q["examples_per_class"] == n]))
                    for n in examples} for m in METHODS}
    gains = {n: accuracy["fine-tuned"][n] - accuracy["scratch"][n] for n in examples}
    first, last = examples[0], examples[-1]
    claim = bool(gains[first] >= min_gain and gains[last] < gains[first])
    numbers = dict(seed=seed, examples=list(examples), repeats=repeats, steps=steps,
                   pretrain_epochs=pretrain_epochs, batch_size=batch_size,
                   learning_rate=learning_rate, backbone_lr_multiplier=backbone_lr_multiplier,
                   architecture=dict(ARCHITECTURE), test_size=int(len(y1_test)),
                   pretrain_accuracy=pretrain_accuracy, accuracy=accuracy, gain=gains,
                   runs=runs, min_gain=min_gain, claim_holds=claim,
                   conclusion=_conclusion(accuracy, gains, examples, pretrain_accuracy))
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _conclusion(accuracy, gains, examples, pretrain_accuracy):
    first, last = examples[0], examples[-1]
    return (
        f"A 1-D CNN pretrained on MNIST-1D's digits 0-4 ({pretrain_accuracy:.1%} on their test "
        f"signals) learns digits 5-9 from {first} examples per class to "
        f"{accuracy['fine-tuned'][first]:.1%} fine-tuned and {accuracy['frozen'][first]:.1%} with "
        f"frozen features, against {accuracy['scratch'][first]:.1%} from scratch (fine-tuning "
        f"{gains[first]:+.1%}); with {last} per class: {accuracy['fine-tuned'][last]:.1%} / "
        f"{accuracy['frozen'][last]:.1%} / {accuracy['scratch'][last]:.1%} ({gains[last]:+.1%}): "
        "the pretrained features matter most when examples are few, and frozen ones plateau."
    )


def headline(result) -> dict:
    """Fine-tuning's gain over scratch at the fewest and the most examples, and both accuracies
    at the fewest."""
    examples, acc, gain = result["examples"], result["accuracy"], result["gain"]
    first, last = examples[0], examples[-1]
    return {
        f"test accuracy, fine-tuned, {first} per class (%)": 100 * acc["fine-tuned"][first],
        f"test accuracy, from scratch, {first} per class (%)": 100 * acc["scratch"][first],
        f"fine-tuned minus scratch, {first} per class (points)": 100 * gain[first],
        f"fine-tuned minus scratch, {last} per class (points)": 100 * gain[last],
    }


def figure_over_seeds(results):
    """Every method's accuracy by examples per class: the mean over seeds (and their draws), and
    a band from the lowest to the highest draw."""
    first = results[0]
    runs = [q for r in results for q in r["runs"]]
    accuracy = {m: {k: float(np.mean([q["test_accuracy"] for q in runs
                                      if q["method"] == m and q["examples_per_class"] == k]))
                    for k in first["examples"]} for m in METHODS}
    pretrain = float(np.mean([r["pretrain_accuracy"] for r in results]))
    seeds = ", ".join(str(r["seed"]) for r in results)
    return _figure(dict(first, runs=runs, accuracy=accuracy, pretrain_accuracy=pretrain),
                   where=f"seeds {seeds} x {first['repeats']} draw(s)")


def _figure(n, where=None):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    xs = n["examples"]
    colors = {"scratch": "0.4", "frozen": "tab:blue", "fine-tuned": "tab:orange"}
    for method in METHODS:
        mean = [n["accuracy"][method][k] for k in xs]
        runs = [[q["test_accuracy"] for q in n["runs"]
                 if q["method"] == method and q["examples_per_class"] == k] for k in xs]
        ax.fill_between(xs, [min(r) for r in runs], [max(r) for r in runs], color=colors[method],
                        alpha=0.15)
        ax.plot(xs, mean, marker="o", color=colors[method], label=method)
    ax.set(xscale="log", xticks=xs, xlabel="training examples per class (MNIST-1D digits 5-9)",
           ylabel="test accuracy (digits 5-9)", ylim=(0, 1.02))
    ax.set_xticklabels([str(k) for k in xs])
    ax.minorticks_off()  # the log axis labelled its minor ticks too (6x10^0, 3x10^1, ...)
    ax.axhline(0.2, color="0.7", ls=":", label="chance")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    where = where or f"{n['repeats']} draw(s), seed {n['seed']}"
    ax.set_title(f"Transfer from MNIST-1D digits 0-4 ({n['pretrain_accuracy']:.1%}): {n['steps']} "
                 f"Adam steps each, mean of {where} (band: min-max)", fontsize="medium")
    return fig
