"""The shared `main` of the recipe scripts: a recipe is its paper's settings and notes, nothing else.

`run_recipe(__doc__, PAPER, recipe="resnet_cifar", ...)` builds the command line from the settings
declarations (every `TrainConfig` flag with the recipe's defaults in `--help`, `--smoke`, `--tune`
and the search flags), builds the `TrainConfig`, trains it or searches around it, prints a summary,
and keeps kzoo's error contract (one line and exit status 2 for a mistake, 130 for Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

from kzoo.training.cli_args import add_train_args, config_from_args
from kzoo.tuning.command import (
    add_tune_arguments,
    pop_tune_args,
    run_recipe_tuning,
)
from kzoo.utils.cli import ArgumentParser, add_debug_flag, run

SUMMARY = ("model", "dataset", "epochs_run", "test_accuracy", "test_loss", "trainable_params")


def recipe_parser(
    doc: str, defaults: dict, *, recipe: str, tune: bool = True, train: bool = True
) -> ArgumentParser:
    """The recipe's command line: the training flags (with its defaults shown; `train=False`
    leaves them to the recipe), `--tune` and the search flags, `--debug`."""
    parser = ArgumentParser(
        prog=f"recipes/{recipe}.py",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if tune:
        add_tune_arguments(parser, with_model=False)
    if train:
        add_train_args(parser, defaults)
    else:
        add_debug_flag(parser)
    return parser


def run_recipe(
    doc: str,
    defaults: dict,
    *,
    recipe: str,
    smoke: dict | None = None,
    milestone_fractions: tuple[float, ...] | None = None,
    adjust: Callable | None = None,
    argv=None,
) -> int:
    """Parse `argv`, then train the recipe's config (or search around it with `--tune`).

    Args:
        doc: the recipe's docstring (its paper's training details), shown by `--help`.
        defaults: the paper's settings (`TrainConfig` fields).
        recipe: the recipe's name (run directories `runs/<recipe>/...`).
        smoke: the settings `--smoke` replaces (a tiny offline run).
        milestone_fractions: the paper's multistep decays as fractions of training.
        adjust: `config -> config`, a paper rule that depends on the final settings (e.g.
            DenseNet's dropout 0.2 without augmentation).
        argv: the arguments (default: the command line).

    Example:
        >>> sys.exit(run_recipe(__doc__, PAPER, recipe="resnet_cifar", smoke=SMOKE,
        ...                     milestone_fractions=(0.5, 0.75)))
    """
    parser = recipe_parser(doc, defaults, recipe=recipe)
    args = parser.parse_args(argv)

    def body() -> int:
        tuning = pop_tune_args(args)
        is_smoke = bool(getattr(args, "smoke", False))
        config = config_from_args(
            args, defaults, recipe=recipe, smoke=smoke, milestone_fractions=milestone_fractions
        )
        if adjust is not None:
            config = adjust(config)
        config.validate()
        if tuning.tune:
            return run_recipe_tuning(tuning, config, smoke=is_smoke)
        from kzoo.training import train
        from kzoo.training.summary import format_table

        metrics = train(config).metrics
        row = {k: metrics[k] for k in SUMMARY}
        row["test_error_%"] = 100 * (1 - metrics["test_accuracy"])
        if config.model_kwargs:
            row |= config.model_kwargs
        print(format_table([{"run_dir": config.run_dir, **row}]))
        return 0

    return run(parser.prog, body, parser, argv)


def replace(config, **changes):
    """`dataclasses.replace` for recipes' `adjust` functions."""
    return dataclasses.replace(config, **changes)
