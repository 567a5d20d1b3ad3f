"""Command-line options shared by the recipes and `kzoo train`: CLI flag -> `TrainConfig` field."""

from __future__ import annotations

import argparse
from pathlib import Path

from kzoo.training.config import OPTIMIZERS, PRECISION_POLICIES, SCHEDULES, TrainConfig
from kzoo.training.distribute import LR_SCALINGS, STRATEGIES

# flag, TrainConfig field, type, help
_OPTIONS = (
    ("--model", "model", str, "registered model name (kzoo list)"),
    ("--dataset", "dataset", str, "dataset name (kzoo datasets)"),
    ("--epochs", "epochs", int, "training epochs"),
    ("--batch-size", "batch_size", int, "examples per step"),
    ("--lr", "learning_rate", float, "initial learning rate"),
    ("--optimizer", "optimizer", str, f"one of {', '.join(OPTIMIZERS)}"),
    ("--momentum", "momentum", float, "momentum of momentum / nesterov"),
    ("--schedule", "schedule", str, f"one of {', '.join(SCHEDULES)}"),
    ("--gamma", "gamma", float, "multistep decay factor"),
    ("--min-lr", "min_learning_rate", float, "final learning rate of the cosine schedule"),
    ("--warmup-epochs", "warmup_epochs", float, "linear warm-up epochs"),
    ("--weight-decay", "weight_decay", float, "weight decay lambda"),
    ("--weight-decay-mode", "weight_decay_mode", str, "l2 (in the loss) or decoupled"),
    ("--label-smoothing", "label_smoothing", float, "label smoothing"),
    ("--validation-split", "validation_split", float, "held-out fraction of the training split"),
    ("--early-stopping", "early_stopping_patience", int, "patience in epochs (on val_loss)"),
    ("--seed", "seed", int, "random seed"),
    (
        "--mixed-precision",
        "mixed_precision",
        str,
        ", ".join(str(p) for p in PRECISION_POLICIES[1:]),
    ),
    ("--max-steps-per-epoch", "max_steps_per_epoch", int, "cap steps per epoch"),
    ("--diagnostics-samples", "diagnostics_samples", int, "probe batch size of --diagnostics"),
    (
        "--strategy",
        "strategy",
        str,
        f"{', '.join(str(s) for s in STRATEGIES[1:])} (default: one device); multiworker reads "
        "TF_CONFIG (see kzoo launch)",
    ),
    (
        "--lr-scaling",
        "lr_scaling",
        str,
        f"{' or '.join(LR_SCALINGS)}: linear multiplies the learning rate by the global batch / "
        "--batch-size",
    ),
    ("--run-dir", "run_dir", str, "run directory (default: runs/<recipe>/<model>-<dataset>)"),
    ("--data-dir", "data_dir", str, "where TFDS keeps prepared datasets (default: TFDS')"),
    ("--manual-dir", "manual_dir", str, "directory of dataset archives downloaded by hand"),
    ("--verbose", "verbose", int, "0 silent, 1 progress bar, 2 one line per epoch"),
)
_FLAGS = (
    ("--overwrite", "overwrite", "replace an existing run directory"),
    ("--diagnostics", "diagnostics", "record per-layer activations and gradient norms"),
    (
        "--per-replica-batch",
        "per_replica_batch",
        "--batch-size is per replica (global batch = batch size x replicas); default: global",
    ),
)


def add_train_args(
    parser: argparse.ArgumentParser, defaults: dict, smoke: bool = True
) -> argparse.ArgumentParser:
    """Add the training options; only options given on the command line reach the namespace.

    `smoke=False` leaves out --smoke (for commands without a tiny offline configuration).
    """
    group = parser.add_argument_group("training (defaults: the recipe's settings)")
    for flag, dest, kind, text in _OPTIONS:
        shown = f" [{defaults[dest]}]" if dest in defaults else ""
        group.add_argument(flag, dest=dest, type=kind, default=argparse.SUPPRESS, help=text + shown)
    group.add_argument(
        "--milestones",
        dest="milestones",
        type=int,
        nargs="+",
        default=argparse.SUPPRESS,
        help="multistep decay epochs (default: the paper's, scaled to --epochs)",
    )
    group.add_argument(
        "--augment",
        dest="augment",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="data augmentation (default: the dataset's)",
    )
    group.add_argument(
        "--no-tensorboard", dest="tensorboard", action="store_false", default=argparse.SUPPRESS
    )
    for flag, dest, text in _FLAGS:
        group.add_argument(
            flag, dest=dest, action="store_true", default=argparse.SUPPRESS, help=text
        )
    if not smoke:
        return parser
    group.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run on offline data (seconds; checks the recipe end to end)",
    )
    return parser


def config_from_args(
    args: argparse.Namespace,
    defaults: dict,
    *,
    recipe: str,
    smoke: dict | None = None,
    milestone_fractions: tuple[float, ...] | None = None,
) -> TrainConfig:
    """The recipe's defaults, then its smoke settings (with --smoke), then the options given.

    With `milestone_fractions` and no --milestones, the multistep milestones are the paper's
    fractions of the final number of epochs (ResNet: 50% and 75%), so --epochs keeps the schedule.
    """
    given = {k: v for k, v in vars(args).items() if k != "smoke"}
    use_smoke = bool(getattr(args, "smoke", False) and smoke)
    values = {**defaults, **(smoke if use_smoke else {}), **given}
    if values.get("schedule") == "multistep" and "milestones" not in given and milestone_fractions:
        values["milestones"] = milestones_at(milestone_fractions, values["epochs"])
        if not values["milestones"]:  # one epoch: nothing to decay
            values["schedule"] = "constant"
    if "milestones" in values:
        values["milestones"] = tuple(values["milestones"])
    if "run_dir" not in values:
        tag = "smoke-" if use_smoke else ""
        values["run_dir"] = str(
            Path("runs") / recipe / f"{tag}{values['model']}-{values['dataset']}"
        )
    return TrainConfig(**values)


def milestones_at(fractions, epochs: int) -> tuple[int, ...]:
    """Epochs at the given fractions of training, kept in [1, epochs) and distinct."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        return ()
    return tuple(sorted({min(epochs - 1, max(1, int(f * epochs))) for f in fractions} - {0}))
