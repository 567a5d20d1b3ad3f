"""The `kzoo tune` command line, also usable by recipes (`add_tune_arguments` + `tune_from_args`)."""

from __future__ import annotations

import argparse

from kzoo.tuning import distributed
from kzoo.tuning.space import OBJECTIVES, TUNERS

EPILOG = """\
search-space overrides (--hp NAME=SPEC, repeatable):
  dropout=0.3                 fixed value        optimizer=adam,momentum   choice
  learning_rate=1e-4:1e-1:log log-scale range    width=64:512:64           integer range, step 64

resume: run the same command again; finished trials are kept. --overwrite starts afresh.

distributed search: start one `--chief` and any number of `--worker` processes with the same
arguments (and --port). The oracle service is unauthenticated: it binds 127.0.0.1 unless --host
says otherwise; only use another address on a network you trust.
"""


def add_tune_arguments(parser: argparse.ArgumentParser, *, with_model: bool = True) -> None:
    """Add the tuning options to `parser` (a recipe passes `with_model=False`)."""
    if with_model:
        parser.add_argument("model", help="registered model name, e.g. plain_mlp, wrn_16_4")
        parser.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    g = parser.add_argument_group("tuning")
    g.add_argument("--tuner", choices=TUNERS, default="random", help="search algorithm")
    g.add_argument("--max-trials", type=int, default=10, help="number of trials (not Hyperband)")
    g.add_argument("--trial-epochs", type=int, default=10, help="epochs per trial (Hyperband: max)")
    g.add_argument("--objective", choices=OBJECTIVES, default="val_accuracy")
    g.add_argument("--hp", action="append", default=[], metavar="NAME=SPEC",
                   help="pin or narrow a hyperparameter (repeatable)")
    g.add_argument("--tune-dir", default="tuning", help="directory of the searches")
    g.add_argument("--project", default=None, help="search name (default model_dataset_tuner)")
    g.add_argument("--overwrite", action="store_true", help="discard an existing search")
    g.add_argument("--validation-split", type=float, default=0.1)
    g.add_argument("--retrain-epochs", type=int, default=None,
                   help="epochs of the final training on train + validation")
    g.add_argument("--no-retrain", action="store_true", help="skip retraining the best setting")
    g.add_argument("--max-failed", type=int, default=5,
                   help="stop after this many failed trials in a row")
    role = g.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="serve the oracle to workers")
    role.add_argument("--worker", action="store_true", help="run trials for a chief")
    g.add_argument("--host", default=distributed.DEFAULT_HOST, help="chief address (default 127.0.0.1)")
    g.add_argument("--port", type=int, default=distributed.DEFAULT_PORT, help="chief port")
    g.add_argument("--tuner-id", default=None, help="a worker's unique id (default worker<pid>)")


def tune_from_args(args, *, model=None, dataset=None, training=None):
    """Call `kzoo.tuning.tune` with the options `add_tune_arguments` added."""
    from kzoo.tuning.driver import tune

    return tune(
        model or args.model,
        dataset or args.dataset,
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.trial_epochs,
        objective=args.objective,
        overrides=list(args.hp),
        training=training,
        batch_size=getattr(args, "batch_size", None),
        validation_split=args.validation_split,
        seed=getattr(args, "seed", None),
        directory=args.tune_dir,
        project_name=args.project,
        overwrite=args.overwrite,
        retrain=not args.no_retrain,
        retrain_epochs=args.retrain_epochs,
        max_consecutive_failed_trials=args.max_failed,
        role="chief" if args.chief else "worker" if args.worker else None,
        host=args.host,
        port=args.port,
        tuner_id=args.tuner_id,
        verbose=getattr(args, "verbose", 1),
    )


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
    result = tune_from_args(args)
    if result.results is not None and result.results["best_trial"] is None:
        print("no trial completed")
        return 1
    return 0
