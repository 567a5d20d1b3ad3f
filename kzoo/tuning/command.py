"""The `kzoo tune` command line, also usable by recipes (`add_tune_arguments` + `tune_from_args`).

Every option is generated from `TuneConfig`'s declarations (and, for `kzoo tune`, the base training
settings from `TrainConfig`'s), so help texts, validation and error messages name the same flags.
"""

from __future__ import annotations

import argparse

from kzoo.tuning.config import RECIPE_FLAGS, TuneConfig
from kzoo.utils.errors import UserError
from kzoo.utils.settings import add_arguments, given

PREFIX = "tune_"
SMOKE_SUFFIX = "-smoke"  # smoke searches and exports never share a name with real ones
EPILOG = """\
search-space overrides (--hp NAME=SPEC, repeatable):
  dropout=0.3                 fixed value        optimizer=adam,momentum   choice
  learning_rate=1e-4:1e-1:log log-scale range    width=64:512:64           integer range, step 64

resume: run the same command again; finished trials are kept. A search folder made by other
settings (space, dataset, objective, tuner, trial schedule, base training) is refused; --overwrite
starts afresh.

schedule: each trial trains --trial-epochs epochs of the base schedule rescaled to that length
(cosine over the trial, multistep milestones at the same fractions); the retraining uses the full one.

export: --export NAME publishes the retrained best model as <export-root>/NAME/<version>/ (a
SavedModel with a raw-input serving signature); the name is checked before the first trial.

distributed search: start one `--chief` and any number of `--worker` processes with the same
arguments (and --port). The oracle service is unauthenticated: it binds 127.0.0.1 unless --host
says otherwise; only use another address on a network you trust.
"""
# Base training settings `kzoo tune` does not offer: the search sets or replaces them.
_TRAINING_SKIPPED = (
    "model", "dataset", "run_dir", "overwrite", "validation_split", "verbose", "strategy",
    "per_replica_batch", "lr_scaling", "diagnostics", "diagnostics_samples",
    "early_stopping_patience",
)


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
    if with_model:
        parser.add_argument("model", help="registered model name, e.g. plain_mlp, wrn_16_4")
        add_arguments(parser, TuneConfig, dest_prefix=PREFIX, skip=("model",),
                      defaults={"dataset": "digits"})
    else:
        parser.add_argument("--tune", action="store_true",
                            help="search hyperparameters instead of one run (see --hp)")
        add_arguments(parser, TuneConfig, dest_prefix=PREFIX, flags=RECIPE_FLAGS,
                      skip=("model", "dataset", "verbose"))
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--chief", dest=PREFIX + "role", action="store_const", const="chief",
                      default=argparse.SUPPRESS, help="serve the oracle to workers")
    role.add_argument("--worker", dest=PREFIX + "role", action="store_const", const="worker",
                      default=argparse.SUPPRESS, help="run trials for a chief")


def tune_from_args(args, *, model=None, dataset=None, training=None):
    """Call `kzoo.tuning.tune` with the options `add_tune_arguments` added.

    `model`, `dataset` default to the parsed ones; `training` is the recipe's `TrainConfig` (its
    batch size, seed, epochs, schedule, data directory and verbosity then apply to the trials and
    the retraining).
    """
    from kzoo.tuning.driver import tune

    values = given(args, TuneConfig, dest_prefix=PREFIX)
    if training is not None and "verbose" not in values:
        values["verbose"] = training.verbose
    if dataset is not None:
        values["dataset"] = dataset
    config = TuneConfig(model=model or args.model, training=training, **values)
    return tune(config)


def pop_tune_args(args: argparse.Namespace) -> argparse.Namespace:
    """Move the options `add_tune_arguments` added (`tune`, `tune_*`) out of `args` into a new
    namespace, so the rest of `args` can become a `TrainConfig`.

    Example:
        >>> tuning = pop_tune_args(args)
        >>> config = config_from_args(args, PAPER, recipe="resnet_cifar")
    """
    names = [k for k in vars(args) if k == "tune" or k.startswith(PREFIX)]
    return argparse.Namespace(**{k: args.__dict__.pop(k) for k in names})


def tune_recipe(tuning: argparse.Namespace, config, *, task: str | None = None,
                smoke: bool = False):
    """A recipe's `--tune`: search around `config` (the recipe's `TrainConfig`: its model, dataset,
    schedule, ...), retrain the best setting, export it with `--export`; the `TuneResult`.

    Args:
        tuning: the namespace of `pop_tune_args`.
        config: the recipe's `TrainConfig` -- the base of the trials and of the retraining.
        task: for a recipe that searches several tasks in one run: the search is named
            `<--project>-<task>` (default `<task>`) and the export `<--export>-<task>`.
        smoke: a `--smoke` run: the search and the export names end in `-smoke`, so they never
            share a name with real results.
    """
    if getattr(config, "strategy", None):
        raise config.error(
            "--tune runs its trials on one device, not under {strategy}", "strategy",
            hint="Search without {strategy} (keras-tuner's --chief/--worker spreads trials over "
            "processes), then train the best setting with it.",
        )
    values = vars(tuning)
    if task is not None:
        project = values.get(PREFIX + "project_name")
        export = values.get(PREFIX + "export")
        values = {**values, PREFIX + "project_name": f"{project}-{task}" if project else task}
        if export:
            values[PREFIX + "export"] = f"{export}-{task}"
    if smoke:
        # The real search's default name (TuneConfig.project_dir) with the smoke suffix.
        tuner = values.get(PREFIX + "tuner") or TuneConfig.tuner
        project = (values.get(PREFIX + "project_name")
                   or f"{config.model}_{config.dataset}_{tuner}")
        values[PREFIX + "project_name"] = _smoke_name(project)
        if values.get(PREFIX + "export"):
            values[PREFIX + "export"] = _smoke_name(values[PREFIX + "export"])
    return tune_from_args(argparse.Namespace(**values), model=config.model,
                          dataset=config.dataset, training=config)


def _smoke_name(name: str) -> str:
    return name if name.endswith(SMOKE_SUFFIX) else name + SMOKE_SUFFIX


def run_recipe_tuning(tuning: argparse.Namespace, config, *, smoke: bool = False) -> int:
    """`tune_recipe`, then a summary table of the best setting; an exit code."""
    from kzoo.training.summary import format_table

    result = tune_recipe(tuning, config, smoke=smoke)
    if result.results is None:  # a worker: the chief reports
        return 0
    if result.results["best_trial"] is None:
        raise UserError("no trial completed (see the messages in the results table)")
    row = {"model": config.model, "dataset": config.dataset, "best_trial": result.results["best_trial"]}
    row |= result.best_values | (result.test_metrics or {})
    if result.export_path is not None:
        row["export"] = str(result.export_path)
    print(format_table([row]))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `kzoo tune` on the `kzoo` command's subparsers."""
    from kzoo.training.config import TrainConfig

    p = subparsers.add_parser(
        "tune",
        help="tune hyperparameters with keras-tuner",
        description="Search hyperparameters, write the results table and figure, retrain the best "
        "setting on train + validation and evaluate it once on the test split. The training "
        "options set the base of every trial and of the retraining (--epochs: the retraining's "
        "length, default --trial-epochs).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_tune_arguments(p)
    add_arguments(p, TrainConfig, skip=_TRAINING_SKIPPED, defaults={"epochs": "--trial-epochs"})
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    from kzoo.training.config import TrainConfig

    options = given(args, TrainConfig)
    options.pop("model", None)  # the positional model is the search's
    tuning = given(args, TuneConfig, dest_prefix=PREFIX)
    training = None
    if options:
        epochs = options.pop("epochs", tuning.get("epochs", 10))
        training = TrainConfig(model=args.model, dataset=tuning.get("dataset", "digits"),
                               run_dir="", epochs=epochs, **options)
    result = tune_from_args(args, training=training)
    if result.results is not None and result.results["best_trial"] is None:
        print("no trial completed")
        return 1
    return 0
