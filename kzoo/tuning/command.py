"""The `kzoo tune` command line, also usable by recipes (`add_tune_arguments` + `tune_from_args`)."""

from __future__ import annotations

import argparse
import sys

from kzoo.tuning import distributed
from kzoo.tuning.space import OBJECTIVES, TUNERS

EPILOG = """\
search-space overrides (--hp NAME=SPEC, repeatable):
  dropout=0.3                 fixed value        optimizer=adam,momentum   choice
  learning_rate=1e-4:1e-1:log log-scale range    width=64:512:64           integer range, step 64

resume: run the same command again; finished trials are kept. --overwrite starts afresh.

schedule: each trial trains --trial-epochs epochs of the base schedule rescaled to that length
(cosine over the trial, multistep milestones at the same fractions); the retraining uses the full one.

export: --export NAME publishes the retrained best model as <export-root>/NAME/<version>/ (a
SavedModel with a raw-input serving signature); the name is checked before the first trial.

distributed search: start one `--chief` and any number of `--worker` processes with the same
arguments (and --port). The oracle service is unauthenticated: it binds 127.0.0.1 unless --host
says otherwise; only use another address on a network you trust.
"""


def add_tune_arguments(parser: argparse.ArgumentParser, *, with_model: bool = True) -> None:
    """Add the tuning options to `parser`.

    `kzoo tune` passes `with_model=True` (positional model, `--dataset`). A recipe passes
    `with_model=False`: it gets a `--tune` switch, and the options that could clash with its own
    (`--overwrite`, `--validation-split`) are spelled `--tune-overwrite`, `--tune-validation-split`.
    Every destination starts with `tune_`.

    Example:
        >>> add_tune_arguments(parser, with_model=False)
        >>> args = parser.parse_args()
        >>> if args.tune:
        ...     tune_from_args(args, model="resnet20", dataset="cifar10", training=config)
    """
    pre = "" if with_model else "tune-"
    if with_model:
        parser.add_argument("model", help="registered model name, e.g. plain_mlp, wrn_16_4")
        parser.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    g = parser.add_argument_group("tuning")
    if not with_model:
        g.add_argument("--tune", action="store_true", help="search hyperparameters instead of one run")
    g.add_argument("--tuner", dest="tune_tuner", choices=TUNERS, default="random",
                   help="search algorithm (default: random)")
    g.add_argument("--max-trials", dest="tune_max_trials", metavar="N", type=int, default=10,
                   help="number of trials (not Hyperband)")
    g.add_argument("--trial-epochs", dest="tune_epochs", metavar="N", type=int, default=10,
                   help="epochs per trial (Hyperband: the largest budget)")
    g.add_argument("--objective", dest="tune_objective", choices=OBJECTIVES, default="val_accuracy")
    g.add_argument("--hp", dest="tune_hp", action="append", default=[], metavar="NAME=SPEC",
                   help="pin or narrow a hyperparameter (repeatable)")
    g.add_argument("--tune-dir", dest="tune_dir", metavar="DIR", default="tuning", help="directory of the searches")
    g.add_argument("--project", dest="tune_project", metavar="NAME", default=None,
                   help="search name (default: model_dataset_tuner)")
    g.add_argument(f"--{pre}overwrite", dest="tune_overwrite", action="store_true",
                   help="discard an existing search and start afresh")
    g.add_argument(f"--{pre}validation-split", dest="tune_validation_split", metavar="FRACTION", type=float, default=0.1,
                   help="part of the training split that scores the trials")
    g.add_argument("--retrain-epochs", dest="tune_retrain_epochs", metavar="N", type=int, default=None,
                   help="epochs of the final training on train + validation")
    g.add_argument("--no-retrain", dest="tune_no_retrain", action="store_true",
                   help="skip retraining the best setting")
    g.add_argument("--max-failed", dest="tune_max_failed", metavar="N", type=int, default=5,
                   help="stop after this many failed trials in a row")
    g.add_argument("--export", dest="tune_export", metavar="NAME", default=None,
                   help="export the retrained best model as <export-root>/NAME/<version>/")
    g.add_argument("--export-root", dest="tune_export_root", metavar="DIR", default="saved_models",
                   help="folder of the exported models (default: saved_models)")
    role = g.add_mutually_exclusive_group()
    role.add_argument("--chief", dest="tune_chief", action="store_true", help="serve the oracle to workers")
    role.add_argument("--worker", dest="tune_worker", action="store_true", help="run trials for a chief")
    g.add_argument("--host", dest="tune_host", metavar="ADDRESS", default=distributed.DEFAULT_HOST,
                   help="chief address (default 127.0.0.1; the service is unauthenticated)")
    g.add_argument("--port", dest="tune_port", metavar="PORT", type=int, default=distributed.DEFAULT_PORT,
                   help=f"chief port (default {distributed.DEFAULT_PORT})")
    g.add_argument("--tuner-id", dest="tune_tuner_id", metavar="ID", default=None,
                   help="a worker's unique id (default worker<pid>)")


def tune_from_args(args, *, model=None, dataset=None, training=None):
    """Call `kzoo.tuning.tune` with the options `add_tune_arguments` added.

    `model`, `dataset` default to the parsed ones; `training` is the recipe's `TrainConfig` (its
    batch size, seed, epochs, schedule, data directory and verbosity then apply to the trials and
    the retraining).
    """
    from kzoo.tuning.driver import tune

    return tune(
        model or args.model,
        dataset or args.dataset,
        tuner=args.tune_tuner,
        max_trials=args.tune_max_trials,
        epochs=args.tune_epochs,
        objective=args.tune_objective,
        overrides=list(args.tune_hp),
        training=training,
        batch_size=None if training is not None else getattr(args, "batch_size", None),
        validation_split=args.tune_validation_split,
        seed=None if training is not None else getattr(args, "seed", None),
        directory=args.tune_dir,
        project_name=args.tune_project,
        overwrite=args.tune_overwrite,
        retrain=not args.tune_no_retrain,
        retrain_epochs=args.tune_retrain_epochs,
        max_consecutive_failed_trials=args.tune_max_failed,
        role="chief" if args.tune_chief else "worker" if args.tune_worker else None,
        host=args.tune_host,
        port=args.tune_port,
        tuner_id=args.tune_tuner_id,
        export=args.tune_export,
        export_root=args.tune_export_root,
        verbose=training.verbose if training is not None else getattr(args, "verbose", 1),
    )


def pop_tune_args(args: argparse.Namespace) -> argparse.Namespace:
    """Move the options `add_tune_arguments` added (`tune`, `tune_*`) out of `args` into a new
    namespace, so the rest of `args` can become a `TrainConfig`.

    Example:
        >>> tuning = pop_tune_args(args)
        >>> config = config_from_args(args, PAPER, recipe="resnet_cifar")
    """
    names = [k for k in vars(args) if k == "tune" or k.startswith("tune_")]
    return argparse.Namespace(**{k: args.__dict__.pop(k) for k in names})


def tune_recipe(tuning: argparse.Namespace, config, *, task: str | None = None):
    """A recipe's `--tune`: search around `config` (the recipe's `TrainConfig`: its model, dataset,
    schedule, ...), retrain the best setting, export it with `--export`; the `TuneResult`.

    Args:
        tuning: the namespace of `pop_tune_args`.
        config: the recipe's `TrainConfig` -- the base of the trials and of the retraining.
        task: for a recipe that searches several tasks in one run: the search is named
            `<--project>-<task>` (default `<task>`) and the export `<--export>-<task>`.
    """
    if getattr(config, "strategy", None):
        raise ValueError(
            f"--tune runs its trials on one device; received strategy={config.strategy!r}. Search "
            "without --strategy (keras-tuner's --chief/--worker spreads trials over processes), "
            "then train the best setting with it."
        )
    if task is not None:
        project = f"{tuning.tune_project}-{task}" if tuning.tune_project else task
        export = tuning.tune_export and f"{tuning.tune_export}-{task}"
        tuning = argparse.Namespace(**{**vars(tuning), "tune_project": project, "tune_export": export})
    return tune_from_args(tuning, model=config.model, dataset=config.dataset, training=config)


def run_recipe_tuning(tuning: argparse.Namespace, config) -> int:
    """`tune_recipe`, then a summary table of the best setting; an exit code."""
    from kzoo.training.summary import format_table

    try:
        result = tune_recipe(tuning, config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if result.results is None:  # a worker: the chief reports
        return 0
    if result.results["best_trial"] is None:
        print("no trial completed", file=sys.stderr)
        return 1
    row = {"model": config.model, "dataset": config.dataset, "best_trial": result.results["best_trial"]}
    row |= result.best_values | (result.test_metrics or {})
    if result.export_path is not None:
        row["export"] = str(result.export_path)
    print(format_table([row]))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `kzoo tune` on the `kzoo` command's subparsers."""
    p = subparsers.add_parser(
        "tune",
        help="tune hyperparameters with keras-tuner",
        description="Search hyperparameters, write the results table and figure, retrain the best "
        "setting on train + validation and evaluate it once on the test split.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_tune_arguments(p)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1)
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    try:
        result = tune_from_args(args)
    except ValueError as err:
        print(f"kzoo tune: error: {err}", file=sys.stderr)
        return 2
    if result.results is not None and result.results["best_trial"] is None:
        print("no trial completed")
        return 1
    return 0
