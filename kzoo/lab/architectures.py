"""Lesson 11 -- Architectures: accuracy is not bought by operations alone (the case studies).

The lecture's case studies (VGG, ResNet, ResNeXt, DenseNet, MobileNets, EfficientNet) and Canziani
et al.'s chart: networks differ by orders of magnitude in multiply-adds and parameters, and the
costliest are not the most accurate -- depthwise-separable and inverted-residual designs reach
similar accuracy with a fraction of the operations.

The experiment: small members of the families (0.14-0.41M parameters), trained under one
budget -- the same data (the UCI digits, 8x8 scaled to [0, 1] and upsampled to the CIFAR input size
32x32), optimiser (Adam, lr 1e-3), batch size, epochs and seed. Measured per member: test accuracy
(inference mode), final training loss, wall-clock training time on this machine, and the
parameters and multiply-adds (`kzoo.count_macs`) of the very model trained. The claim holds if
some member with at most 1/`cost_ratio` of the costliest member's MACs is within `tolerance` of
the best test accuracy. By default two members -- VGG-11 (6.3M MACs) and ResNet-20 (40M) -- for 4
epochs, over 3 seeds: about 100 s on 2 cores. All seven (`--members`, with ResNeXt-11 at 24M MACs,
DenseNet-BC-40 at 72M and the mobile designs) take some minutes per seed and epoch budgets of 15
or more: on 1,437 small images the mobile designs trail.

Reference: Canziani, Paszke, Culurciello. "An Analysis of Deep Neural Network Models for Practical
Applications." 2017 (arXiv:1605.07678); the families' papers in `kzoo.models.papers`.
"""

from __future__ import annotations

import importlib
import time

import keras
import numpy as np

import kzoo.data
from kzoo.counting import count_macs
from kzoo.lab._common import seed_everything, write_results
from kzoo.layers._validation import check_positive_int

LESSON = "architectures"
SIDE = 32  # digits are upsampled 4x to the CIFAR input size every family accepts
# member -> (label, builder "module:function", arguments): small members, 0.14-0.41M parameters.
MEMBERS = {
    "vgg11": ("VGG-11", "vgg:vgg_cifar", dict(depth=11, widths=(16, 32, 64, 64, 64), fc_units=64)),
    "resnet20": ("ResNet-20", "resnet:resnet_cifar", dict(depth=20)),
    "resnext11": ("ResNeXt-11 8x4d", "resnext:resnext_cifar",
                  dict(depth=11, cardinality=8, group_width=4, base_channels=16)),
    "densenet_bc40": ("DenseNet-BC-40", "densenet:densenet",
                      dict(depth=40, growth_rate=12, bottleneck=True, compression=0.5)),
    "mobilenet_v1": ("MobileNet v1 0.25", "mobilenet:mobilenet_v1",
                     dict(alpha=0.25, small_inputs=True)),
    "mobilenet_v2": ("MobileNet v2 0.35", "mobilenet:mobilenet_v2",
                     dict(alpha=0.35, small_inputs=True, dropout=0.0)),
    "efficientnet": ("EfficientNet w0.35 d0.5", "efficientnet:efficientnet",
                     dict(width_coefficient=0.35, depth_coefficient=0.5, dropout=0.0)),
}
# The lesson's members: two designs whose batch norm settles within a few dozen steps (EfficientNet's
# momentum 0.99 needs a few hundred; the MobileNets learn slowly at first) and 6x apart in MACs.
# ResNeXt-11 (24M MACs) still trails at 4 epochs (train loss ~0.4); it and the others run with
# --members and more epochs.
DEFAULT_MEMBERS = ("vgg11", "resnet20")
SMOKE_MEMBERS = ("vgg11", "resnet20", "resnext11")  # the smoke run checks a third family's plumbing
CLAIM = ("Accuracy is not bought by multiply-adds alone: trained under one budget, a member with at "
         "most 1/5 of the costliest member's multiply-adds is within 2 points of the best test "
         "accuracy.")
PAPER = "Canziani et al. 2017, An Analysis of Deep Neural Network Models, Fig. 2"
SEEDS = (0, 1, 2)


def build_member(member, classes=10):
    """The small model `member` (a key of MEMBERS) for 32x32x1 inputs."""
    _, target, arguments = MEMBERS[member]
    module, function = target.split(":")
    builder = getattr(importlib.import_module(f"kzoo.models.{module}"), function)
    return builder(input_shape=(SIDE, SIDE, 1), classes=classes, **arguments)


def prepare(images):
    """UCI digits (N, 8, 8) in 0..16 -> (N, 32, 32, 1) float32 in [0, 1], nearest-neighbour 4x."""
    x = images.reshape(-1, 8, 8, 1).astype("float32") / 16.0
    scale = SIDE // 8
    return np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)


def _digits(limit=None):
    a = kzoo.data.load_arrays("digits")
    x, y = prepare(a["x_train"]), a["y_train"]
    if limit:
        x, y = x[:limit], y[:limit]
    return x, y, prepare(a["x_test"]), a["y_test"]


def run(out_dir, *, seed=0, smoke=False, members=None, epochs=None, train_limit=None,
        batch_size=32, learning_rate=1e-3, tolerance=0.02, cost_ratio=5.0) -> dict:
    """Train a small member of each family under one budget; write architectures.png / .json.

    Args:
        out_dir: output directory.
        seed: random seed (weights, batch order), the same for every member.
        smoke: a short configuration (256 digits; 1 epoch).
        members: keys of `MEMBERS` (default `DEFAULT_MEMBERS`: VGG-11, ResNet-20; smoke adds
            ResNeXt-11).
        epochs: training epochs (default 4; smoke 1).
        train_limit: train on the first this-many training digits (default all 1,437; smoke 256).
        batch_size: minibatch size.
        learning_rate: Adam's learning rate.
        tolerance: accuracy gap to the best member that still counts as "as accurate".
        cost_ratio: how many times fewer MACs than the costliest member the claim asks for.

    Returns:
        `members[key]` with `label`, `params`, `macs`, `test_accuracy`, `train_loss`, `seconds`,
        `arguments`; the `best` member, the `costliest`, `efficient` (members within `tolerance`
        of the best with at most 1/`cost_ratio` of the costliest MACs, cheapest first),
        `claim_holds` and a one-line `conclusion`.

    Example:
        >>> result = run("runs/lab", smoke=True)
        >>> sorted(result["members"])
        ['resnet20', 'resnext11', 'vgg11']
    """
    keys = (SMOKE_MEMBERS if smoke else DEFAULT_MEMBERS) if members is None else tuple(members)
    if any(k not in MEMBERS for k in keys) or len(keys) < 2 or len(set(keys)) != len(keys):
        raise ValueError(f"`members` must be two or more distinct names from {list(MEMBERS)}; "
                         f"received members={members!r}.")
    epochs = (1 if smoke else 4) if epochs is None else epochs
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    train_limit = (256 if smoke else None) if train_limit is None else train_limit
    if train_limit is not None:
        check_positive_int("train_limit", train_limit)
    for name, value in (("learning_rate", learning_rate), ("cost_ratio", cost_ratio)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) \
            or not 0 <= tolerance < 1:
        raise ValueError(f"`tolerance` must be in [0, 1); received tolerance={tolerance!r}.")

    x, y, xt, yt = _digits(train_limit)
    results = {}
    for key in keys:
        seed_everything(seed)
        model = build_member(key)
        macs = count_macs(model)
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=False)
        start = time.perf_counter()
        hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
        seconds = time.perf_counter() - start
        _, accuracy = model.evaluate(xt, yt, batch_size=256, verbose=0)
        results[key] = dict(label=MEMBERS[key][0], params=params, macs=macs,
                            test_accuracy=float(accuracy), train_loss=float(hist.history["loss"][-1]),
                            seconds=seconds, arguments=MEMBERS[key][2])
        keras.backend.clear_session()

    best = max(results, key=lambda k: results[k]["test_accuracy"])
    costliest = max(results, key=lambda k: results[k]["macs"])
    top, cap = results[best]["test_accuracy"], results[costliest]["macs"] / cost_ratio
    efficient = sorted((k for k, m in results.items()
                        if m["test_accuracy"] >= top - tolerance and m["macs"] <= cap),
                       key=lambda k: results[k]["macs"])
    b, c = results[best], results[costliest]
    if efficient:
        e = results[efficient[0]]
        verdict = (f"{e['label']} is within {tolerance:.0%} of the best ({e['test_accuracy']:.1%}) "
                   f"with {c['macs'] / e['macs']:.0f}x fewer MACs than the costliest")
    else:
        verdict = f"no member within {tolerance:.0%} of the best uses {cost_ratio:g}x fewer MACs"
    conclusion = (
        f"After {epochs} epochs on {len(x)} digits (32x32, Adam {learning_rate:g}), "
        f"{b['label']} is the most accurate ({b['test_accuracy']:.1%} test, "
        f"{b['macs'] / 1e6:.1f}M MACs, {b['params'] / 1e3:.0f}k parameters); the costliest, "
        f"{c['label']} ({c['macs'] / 1e6:.1f}M MACs), reaches {c['test_accuracy']:.1%}; {verdict}."
    )
    numbers = dict(dataset="digits", side=SIDE, epochs=epochs, batch_size=batch_size,
                   learning_rate=learning_rate, seed=seed, train_examples=len(x),
                   test_examples=len(xt), members=results, best=best, costliest=costliest,
                   efficient=efficient, tolerance=tolerance, cost_ratio=cost_ratio,
                   claim_holds=bool(efficient), conclusion=conclusion)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def headline(result) -> dict:
    """The best accuracy, the costliest member's, and the gap and MAC saving of the most accurate
    member with at most 1/`cost_ratio` of the costliest member's MACs."""
    members = result["members"]
    best = members[result["best"]]
    costliest = members[result["costliest"]]
    ratio = result["cost_ratio"]
    cheap = [m for m in members.values() if m["macs"] <= costliest["macs"] / ratio]
    numbers = {"test accuracy, most accurate member (%)": 100 * best["test_accuracy"],
               "test accuracy, costliest member (%)": 100 * costliest["test_accuracy"]}
    top = max(cheap, key=lambda m: m["test_accuracy"], default=None)
    numbers[f"accuracy gap to the best, best member with <= 1/{ratio:g} of the MACs (points)"] = (
        None if top is None else 100 * (best["test_accuracy"] - top["test_accuracy"]))
    numbers["MACs of the costliest / of that member (x)"] = (
        None if top is None else costliest["macs"] / top["macs"])
    return numbers


def _figure(n):
    import matplotlib.pyplot as plt

    from kzoo.charts.cost_accuracy import bubble_area, mac_formatter, place_labels

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 6.5), layout="constrained")
    cmap = plt.get_cmap("tab10")
    members = list(n["members"].values())
    # Bubbles 20x the chart's scale: these models have 0.1-0.4M parameters, not 1-100M.
    areas = [20 * bubble_area(m["params"]) for m in members]
    accuracy = [100 * m["test_accuracy"] for m in members]
    for i, m in enumerate(members):
        ax1.scatter(m["macs"], accuracy[i], s=areas[i], color=cmap(i % 10), alpha=0.5,
                    edgecolors="0.2")
        ax2.scatter(m["params"], accuracy[i], s=60, color=cmap(i % 10), edgecolors="0.2")
    ax1.set_xlabel("multiply-adds per 32x32 image (log scale)")
    ax1.set_title("test accuracy against multiply-adds (bubble area ~ parameters)")
    ax2.set_xlabel("trainable parameters (log scale)")
    ax2.set_title("test accuracy against parameters")
    low, high = min(accuracy), max(accuracy)
    for ax, key, pad in ((ax1, "macs", 3.0), (ax2, "params", 2.0)):
        ax.set_xscale("log")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, which="both", alpha=0.3)
        xs = [m[key] for m in members]
        ax.set_xlim(min(xs) / pad, max(xs) * pad)
        ax.set_ylim(low - 0.08 * (high - low) - 0.5, high + 0.08 * (high - low) + 0.5)
        ax.xaxis.set_major_formatter(mac_formatter())
    # The parameters span under a decade: label the minor ticks 2, 3 and 5 of it too.
    ax2.xaxis.set_minor_formatter(mac_formatter(leading=(2, 3, 5)))
    place_labels(ax1, [(m["macs"], a, m["label"], s)
                       for m, a, s in zip(members, accuracy, areas, strict=True)], fontsize=8)
    place_labels(ax2, [(m["params"], a, m["label"], 60)
                       for m, a in zip(members, accuracy, strict=True)], fontsize=8)
    fig.suptitle(
        f"One budget, {len(members)} designs: small members of each family on UCI digits "
        f"({n['train_examples']} training images upsampled to 32x32), {n['epochs']} epochs of "
        f"Adam (lr {n['learning_rate']:g}), batch {n['batch_size']}, seed {n['seed']}"
    )
    return fig


def figure_over_seeds(results):
    """Test accuracy against multiply-adds with every seed as a point (the mean as a bar)."""
    import matplotlib.pyplot as plt

    from kzoo.charts.cost_accuracy import mac_formatter

    first = results[0]
    fig, ax = plt.subplots(figsize=(8.5, 5.2), layout="constrained")
    for i, key in enumerate(first["members"]):
        macs = first["members"][key]["macs"]
        accuracy = [100 * r["members"][key]["test_accuracy"] for r in results]
        ax.plot([macs] * len(accuracy), accuracy, "o", color=f"C{i}", alpha=0.7, ms=6,
                label=f"{first['members'][key]['label']} ({macs / 1e6:.1f}M MACs, "
                      f"{first['members'][key]['params'] / 1e3:.0f}k parameters)")
        ax.plot([macs / 1.08, macs * 1.08], [np.mean(accuracy)] * 2, color=f"C{i}", lw=2)
    costliest = first["members"][first["costliest"]]["macs"]
    ax.axvline(costliest / first["cost_ratio"], color="0.5", ls=":", lw=1,
               label=f"1/{first['cost_ratio']:g} of the costliest member's MACs")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(mac_formatter())
    ax.xaxis.set_minor_formatter(mac_formatter(leading=(2, 3, 5)))
    ax.set(xlabel="multiply-adds per 32x32 image (log scale)", ylabel="test accuracy (%)",
           title=f"One budget ({first['epochs']} epochs of Adam on {first['train_examples']} "
                 f"digits at 32x32), {len(results)} seeds: each a point, the mean a bar")
    ax.grid(True, which="both", alpha=0.3)
    low, high = ax.get_ylim()  # show at least the claim's tolerance below the best mean
    best = max(np.mean([100 * r["members"][k]["test_accuracy"] for r in results])
               for k in first["members"])
    ax.set_ylim(min(low, best - 100 * first["tolerance"] - 0.3), max(high, 100.1))
    ax.legend(fontsize=8, loc="lower center")
    return fig
