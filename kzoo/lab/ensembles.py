"""Lesson 15 -- Ensembles, weight averaging, and dropout as an ensemble.

The lecture: "train a bunch of networks ... average their outputs" (seed 001, "Dropout -
Ensemble"; seed 004, "Model Ensemble"): members that err differently cancel part of each other's
errors. Dropout trains one network, but each minibatch trains one of its 2^n "thinned"
sub-networks, which share parameters; at test time it multiplies the weights by the keep
probability (Keras scales at training time instead, the same thing), which for one softmax layer is
exactly the normalised geometric mean of all the sub-networks' predictions -- "Dropout ~ Ensemble".

The experiment, on MNIST-1D, every network trained by kzoo's engine (`kzoo.training.train`: Adam,
cosine schedule, the same epochs):

- `members` 1-D CNNs (`plain_cnn`, 7 convolutions with batch norm) that differ only by their seed;
  the test error of the ensemble of the first k (mean of their probabilities), k = 1 ... members;
- with `snapshots` >= 2 (off by default: one more run, and at these few epochs a cycle is too
  short for good snapshots): a snapshot ensemble, one run of the same length whose cosine schedule
  restarts `snapshots` times, its snapshots averaged (`TrainConfig.snapshots`, Huang et al. 2017);
- with `averaging=True` (off by default: two more runs, and not part of the claim): the
  exponential moving average of one run's weights (`weight_averaging="ema"`, Keras' optimiser
  EMA) and stochastic weight averaging from half-way (`"swa"`), batch-norm statistics recomputed;
  both compared with member 0, the same run without averaging;
- with `dropout_rate` (off by default: one more run): a dropout network evaluated by weight
  scaling (Keras' inference) and by Monte-Carlo dropout: the
  arithmetic and the geometric mean of K sampled sub-networks, K = 1 ... `mc_samples`, and how
  often the two answers agree. It is the 2 x 256 ReLU MLP of lesson 9 with dropout after both
  hidden layers: dropout after every convolution of the narrow CNN costs too much (rate 0.1: 21%
  test error instead of 6%).

The engine's fixed cost per run dominates at these sizes, so the default trains only what the claim
needs: 3 members of 6 epochs; over its 3 seeds the lesson takes about 100 s on 2 CPU cores. The full
lesson (`members=5, epochs=20, snapshots=4, averaging=True, dropout_rate=0.2`) took 170 s a seed.

Reference: Hansen & Salamon 1990 (ensembles); Huang et al., "Snapshot Ensembles", ICLR 2017;
Izmailov et al., "Averaging Weights Leads to Wider Optima", UAI 2018; Srivastava et al.,
"Dropout", JMLR 2014 (sec. 7.5: Monte-Carlo model averaging vs weight scaling); Gal & Ghahramani,
"Dropout as a Bayesian Approximation", ICML 2016.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from kzoo.lab._common import seed_everything, write_results

LESSON = "ensembles"
ARCHITECTURE = {"depth": 7, "width": 16}
MLP = {"depth": 2, "width": 256}
CLAIM = ("Averaging models that err differently errs less: on MNIST-1D an ensemble of 3 "
         "independently seeded 1-D CNNs errs at least 1 point (of test error) less than its "
         "average member.")
PAPER = "Hansen & Salamon 1990, Neural Network Ensembles; Lakshminarayanan et al. 2017, Fig. 2"
SEEDS = (0, 1, 2)
MEMBER_SEEDS = 1000  # lesson seed s trains members 1000 s, 1000 s + 1, ...: none shared


def _config(run_dir, seed, epochs, model="plain_cnn", **changes):
    from kzoo.training import TrainConfig

    architecture = ARCHITECTURE if model == "plain_cnn" else MLP
    base = dict(model=model, dataset="mnist1d", run_dir=str(run_dir), seed=seed,
                model_kwargs=dict(architecture), epochs=epochs, batch_size=64,
                optimizer="adam", learning_rate=1e-3, schedule="cosine", mixed_precision="float32",
                verbose=0, tensorboard=False, overwrite=True)
    if "model_kwargs" in changes:
        changes["model_kwargs"] = {**base["model_kwargs"], **changes["model_kwargs"]}
    return TrainConfig(**{**base, **changes})


def _test_split(seed):
    """The test split as the run of `seed` normalised its data, and its labels."""
    import kzoo.data

    bundle = kzoo.data.load("mnist1d", batch_size=1000, validation_split=0.1, seed=seed)
    xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in bundle.test], strict=True)
    return np.concatenate(xs), np.concatenate(ys).astype(int)


def _error(p, y) -> float:
    return float(np.mean(np.argmax(p, -1) != y))


def run(out_dir, *, seed=0, smoke=False, members=None, epochs=None, snapshots=None,
        dropout_rate=None, mc_samples=None, averaging=False, min_gain=0.01) -> dict:
    """Train the members (and the snapshot, EMA, SWA, dropout runs asked for); write
    ensembles.png/.json.

    Args:
        out_dir: output directory (the runs themselves go to a temporary directory).
        seed: the lesson's seed: member i trains with seed `MEMBER_SEEDS * seed + i` (so no two
            lesson seeds share a member), the other runs with `seed`.
        smoke: a seconds-long configuration (2 members, 2 epochs, K up to 10).
        members: independently seeded networks (default 3).
        epochs: epochs of every run (default 6).
        snapshots: cosine cycles of a snapshot run (default 0: no snapshot run; else at least 2,
            dividing `epochs`).
        dropout_rate: the rate of a dropout MLP whose weight scaling is compared with Monte-Carlo
            dropout (default None: no dropout run; 0.2 was the full lesson's).
        mc_samples: the largest number of sampled sub-networks (default 100).
        averaging: also train the EMA and SWA runs (two more runs; default False).
        min_gain: how much less (error, as a fraction) the ensemble of all members must err than
            its average member.

    Returns:
        `member_error` (each member), `ensemble_error[k]` (first k members), `snapshot` (None
        without `snapshots`),
        `ema_error`, `swa_error` (None without `averaging`), `dropout` (None without
        `dropout_rate`; else weight-scaling error, Monte-Carlo errors by K for both means,
        agreement), `claim_holds`, `conclusion`.
    """
    from kzoo.training import train

    members = (2 if smoke else 3) if members is None else members
    epochs = (2 if smoke else 6) if epochs is None else epochs
    snapshots = 0 if snapshots is None else snapshots
    mc_samples = (10 if smoke else 100) if mc_samples is None else mc_samples
    for name, value in (("members", members), ("epochs", epochs), ("snapshots", snapshots + 1),
                        ("mc_samples", mc_samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")
    if dropout_rate is not None and not 0 < dropout_rate < 1:
        raise ValueError(f"`dropout_rate` must be in (0, 1) or None; received "
                         f"dropout_rate={dropout_rate!r}.")
    if not 0 <= min_gain < 1:
        raise ValueError(f"`min_gain` must be in [0, 1); received min_gain={min_gain!r}.")
    if members > MEMBER_SEEDS:
        raise ValueError(f"`members` must be at most {MEMBER_SEEDS}; received members={members}.")
    if members < 2 or snapshots == 1 or (snapshots and epochs % snapshots):
        raise ValueError(
            "`members` must be at least 2, `snapshots` 0 (none) or at least 2 dividing `epochs`; "
            f"received members={members}, snapshots={snapshots}, epochs={epochs}."
        )
    with tempfile.TemporaryDirectory(prefix="kzoo-ensembles-") as tmp:
        root = Path(tmp)
        probabilities, member_error = [], []
        for i in range(members):
            member_seed = MEMBER_SEEDS * seed + i
            result = train(_config(root / f"member{i}", member_seed, epochs))
            x, y = _test_split(member_seed)
            p = np.asarray(result.model.predict(x, verbose=0), "float64")
            probabilities.append(p)
            member_error.append(_error(p, y))
        ensemble_error = {k: _error(np.mean(probabilities[:k], axis=0), y)
                          for k in range(1, members + 1)}
        snap = None
        if snapshots:
            snap = train(_config(root / "snapshots", seed, epochs, snapshots=snapshots)).metrics
        ema = swa = None
        if averaging:
            ema = train(_config(root / "ema", seed, epochs, weight_averaging="ema")).metrics
            swa = train(_config(root / "swa", seed, epochs, weight_averaging="swa",
                                swa_start=0.5)).metrics
        dropout_numbers = None
        if dropout_rate is not None:
            drop = train(_config(root / "dropout", seed, epochs, model="plain_mlp",
                                 model_kwargs={"dropout": dropout_rate}))
            x, y = _test_split(seed)
            dropout_numbers = _monte_carlo(drop.model, x, y, mc_samples, seed)
    snapshot = None if snap is None else {
        "snapshot_errors": [1 - snap[f"snapshot_{k}_test_accuracy"]
                            for k in range(1, snapshots + 1)],
        "ensemble_error": 1 - snap["snapshot_ensemble_test_accuracy"],
    }
    numbers = dict(
        seed=seed, members=members, epochs=epochs, snapshots=snapshots, dropout_rate=dropout_rate,
        mc_samples=mc_samples, test_size=int(len(y)), member_error=member_error,
        mean_member_error=float(np.mean(member_error)), ensemble_error=ensemble_error,
        snapshot=snapshot, averaging=bool(averaging),
        ema_error=None if ema is None else 1 - ema["test_accuracy"],
        swa_error=None if swa is None else 1 - swa["test_accuracy"],
        dropout=dropout_numbers, architecture=dict(ARCHITECTURE), dropout_architecture=dict(MLP),
        min_gain=min_gain,
    )
    numbers["claims"] = _claims(numbers)
    numbers["claim_holds"] = all(numbers["claims"].values())
    numbers["conclusion"] = _conclusion(numbers)
    return write_results(out_dir, LESSON, numbers, _figure(numbers), smoke=smoke)


def _monte_carlo(model, x, y, samples, seed) -> dict:
    """Weight scaling against the arithmetic and geometric means of sampled sub-networks."""
    import keras

    from kzoo.training.averaging import batch_norm_layers

    seed_everything(seed)
    scaled = np.asarray(model(x, training=False), "float64")
    for layer in batch_norm_layers(model):  # training=True below samples dropout masks only:
        layer.trainable = False  # a frozen batch norm keeps its inference statistics
    sampled = np.stack([np.asarray(model(x, training=True), "float64") for _ in range(samples)])
    ks = [k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500) if k <= samples]
    arithmetic, geometric = {}, {}
    for k in ks:
        arithmetic[k] = _error(sampled[:k].mean(0), y)
        log_mean = np.log(np.clip(sampled[:k], 1e-12, 1)).mean(0)
        geometric[k] = _error(log_mean, y)  # the normalisation does not move the argmax
    mean = sampled.mean(0)
    keras.backend.clear_session()
    return {
        "weight_scaling_error": _error(scaled, y),
        "mc_arithmetic_error": arithmetic,
        "mc_geometric_error": geometric,
        "agreement": float(np.mean(scaled.argmax(-1) == mean.argmax(-1))),
        "mean_abs_probability_difference": float(np.mean(np.abs(scaled - mean).sum(-1) / 2)),
        "single_subnetwork_error": arithmetic[1],
    }


def _claims(n) -> dict:
    k, mc = n["members"], n["dropout"]
    claims = {"ensemble_errs_min_gain_less_than_its_average_member":
              n["ensemble_error"][k] <= n["mean_member_error"] - n["min_gain"]}
    if mc is not None:
        largest = max(mc["mc_arithmetic_error"])
        claims["weight_scaling_within_2_points_of_the_mc_mean"] = (
            abs(mc["mc_arithmetic_error"][largest] - mc["weight_scaling_error"]) <= 0.02)
        claims["one_subnetwork_is_worse_than_weight_scaling"] = (
            mc["single_subnetwork_error"] > mc["weight_scaling_error"])
    if n["snapshot"] is not None:
        claims["snapshot_ensemble_beats_its_average_snapshot"] = (
            n["snapshot"]["ensemble_error"] < float(np.mean(n["snapshot"]["snapshot_errors"])))
    return claims


def headline(result) -> dict:
    """The average member's, the best member's and the ensemble's test error and the ensemble's
    gain; with a dropout run, weight scaling's distance from the mean of the sub-networks."""
    k, mc = result["members"], result["dropout"]
    numbers = {
        "test error, average member (%)": 100 * result["mean_member_error"],
        "test error, best member (%)": 100 * min(result["member_error"]),
        f"test error, ensemble of {k} members (%)": 100 * result["ensemble_error"][k],
        "ensemble minus average member (error points)":
            100 * (result["ensemble_error"][k] - result["mean_member_error"]),
    }
    if mc is not None:
        largest = max(mc["mc_arithmetic_error"])
        numbers[f"dropout: weight scaling minus mean of {largest} sub-networks (error points)"] = (
            100 * (mc["weight_scaling_error"] - mc["mc_arithmetic_error"][largest]))
    return numbers


def figure_over_seeds(results):
    """Each seed's ensemble error by size k beside its members (and its snapshot ensemble, if
    any), and its dropout net's Monte-Carlo error by K beside weight scaling; a colour a seed."""
    import matplotlib.pyplot as plt

    dropout = results[0]["dropout"] is not None
    fig, axes = plt.subplots(1, 1 + dropout, figsize=(6.5 * (1 + dropout), 4.8),
                             layout="constrained", squeeze=False)
    ax1, ax2 = axes[0][0], axes[0][-1]
    for i, n in enumerate(results):
        color = f"C{i}"
        ks = sorted(n["ensemble_error"], key=int)
        ax1.plot([int(k) for k in ks], [100 * n["ensemble_error"][k] for k in ks], marker="o",
                 color=color, label=f"seed {n['seed']}: ensemble of k nets")
        ax1.axhline(100 * n["mean_member_error"], color=color, ls=":", lw=1,
                    label=f"seed {n['seed']}: average member")
        ax1.scatter([1] * len(n["member_error"]), [100 * e for e in n["member_error"]],
                    color=color, s=14, alpha=0.6)
        if n["snapshot"] is not None:
            ax1.plot([n["snapshots"]], [100 * n["snapshot"]["ensemble_error"]], marker="*", ms=11,
                     color=color, ls="none", label=f"seed {n['seed']}: snapshot ensemble (one run)")
        if dropout:
            mc = n["dropout"]
            ks = sorted(mc["mc_arithmetic_error"], key=int)
            ax2.plot([int(k) for k in ks], [100 * mc["mc_arithmetic_error"][k] for k in ks],
                     marker="o", color=color, label=f"seed {n['seed']}: mean of K sub-networks")
            ax2.axhline(100 * mc["weight_scaling_error"], color=color, ls="--", lw=1,
                        label=f"seed {n['seed']}: weight scaling")
    first = results[0]
    ax1.set(xlabel="ensemble size k (dots at 1: the single nets)", ylabel="test error (%)",
            title=f"{first['members']} seeded 7-layer 1-D CNNs per seed, {first['epochs']} epochs")
    if dropout:
        ax2.set(xscale="log", xlabel="sampled sub-networks K", ylabel="test error (%)",
                title=f"2x256 MLP, dropout {first['dropout_rate']:g}: Monte-Carlo vs weight "
                "scaling")
    ax1.xaxis.get_major_locator().set_params(integer=True)
    for a in axes[0]:
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.suptitle(f"Ensembles on MNIST-1D over {len(results)} seeds ({first['test_size']} test "
                 "signals): each seed in its own colour")
    return fig


def _conclusion(n) -> str:
    k, mc = n["members"], n["dropout"]
    snap = n["snapshot"]
    return (_conclusion_members(n, k, snap)
            + ("." if mc is None else _conclusion_dropout(n, mc)))


def _conclusion_members(n, k, snap) -> str:
    return (
        f"On MNIST-1D a 7-layer 1-D CNN errs on {n['mean_member_error']:.1%} of the test signals "
        f"(seeds: {min(n['member_error']):.1%}-{max(n['member_error']):.1%}); the ensemble of "
        f"{k} seeds on {n['ensemble_error'][k]:.1%}"
        + (f"; a snapshot ensemble of {n['snapshots']} cycles in one run on "
           f"{snap['ensemble_error']:.1%} (its snapshots {min(snap['snapshot_errors']):.1%}-"
           f"{max(snap['snapshot_errors']):.1%})" if snap is not None else "")
        + (f"; EMA {n['ema_error']:.1%} and SWA {n['swa_error']:.1%} against "
           f"{n['member_error'][0]:.1%} for the same run without averaging"
           if n["ema_error"] is not None else "")
    )


def _conclusion_dropout(n, mc) -> str:
    largest = max(mc["mc_arithmetic_error"])
    return (
        f". A 2x256 MLP with dropout {n['dropout_rate']:g}: weight scaling"
        f" {mc['weight_scaling_error']:.1%}, the mean of {largest} sampled sub-networks "
        f"{mc['mc_arithmetic_error'][largest]:.1%} (geometric "
        f"{mc['mc_geometric_error'][largest]:.1%}; one sub-network "
        f"{mc['single_subnetwork_error']:.1%}); they agree on {mc['agreement']:.1%} of the "
        "test signals."
    )


def _figure(n):
    import matplotlib.pyplot as plt

    mc = n["dropout"]
    fig, axes = plt.subplots(1, 1 + (mc is not None), figsize=(6.5 * (1 + (mc is not None)), 4.8),
                             layout="constrained", squeeze=False)
    ax1, ax2 = axes[0][0], axes[0][-1]
    ks = sorted(n["ensemble_error"], key=int)
    ax1.plot([int(k) for k in ks], [n["ensemble_error"][k] for k in ks], marker="o",
             label="ensemble of k seeded nets")
    ax1.scatter([1] * len(n["member_error"]), n["member_error"], color="0.5", s=12,
                label="single nets")
    snap = n["snapshot"] or {"ensemble_error": None, "snapshot_errors": [None]}
    for value, label, style in (
        (snap["ensemble_error"], f"snapshot ensemble ({n['snapshots']} cycles, one run)", "--"),
        (snap["snapshot_errors"][-1], "its last snapshot", ":"),
        (n["member_error"][0] if n["averaging"] else None, "member 0 (same run, no averaging)",
         (0, (3, 1, 1, 1))),
        (n["ema_error"], "member 0 + EMA of the weights", "-."),
        (n["swa_error"], "member 0 + SWA", (0, (1, 1))),
    ):
        if value is None:
            continue
        ax1.axhline(value, ls=style, lw=1.2, label=f"{label}: {value:.1%}")
    ax1.set(xlabel="ensemble size k", ylabel="test error", title="Ensembles and averaging")
    ax1.xaxis.get_major_locator().set_params(integer=True)
    ax1.legend(fontsize=8)
    for a in axes[0]:
        a.grid(alpha=0.3)
    where = "7-layer 1-D CNN" if mc is None else "7-layer 1-D CNN (left) and 2x256 MLP (right)"
    fig.suptitle(f"MNIST-1D, {where}, {n['epochs']} epochs of Adam (cosine), seed {n['seed']}, "
                 f"{n['test_size']} test signals")
    if mc is None:
        return fig
    ks = sorted(mc["mc_arithmetic_error"], key=int)
    ax2.plot([int(k) for k in ks], [mc["mc_arithmetic_error"][k] for k in ks], marker="o",
             label="mean of K sub-networks (arithmetic)")
    ax2.plot([int(k) for k in ks], [mc["mc_geometric_error"][k] for k in ks], marker="s",
             label="geometric mean")
    ax2.axhline(mc["weight_scaling_error"], color="tab:red", ls="--",
                label=f"weight scaling: {mc['weight_scaling_error']:.1%}")
    ax2.set(xscale="log", xlabel="sampled sub-networks K", ylabel="test error",
            title=f"2x256 MLP, dropout {n['dropout_rate']:g} ~ ensemble (agreement "
            f"{mc['agreement']:.1%})")
    ax2.legend(fontsize=8)
    return fig
