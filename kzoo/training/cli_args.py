"""The training options of `kzoo train` and every recipe, generated from `TrainConfig`'s declarations.

A recipe is its defaults (the paper's settings) plus its notes: `add_train_args(parser, PAPER)` adds
one flag per `TrainConfig` setting (help texts show the recipe's defaults) and `config_from_args`
builds the `TrainConfig` from the defaults, the smoke settings and the flags given.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from kzoo.training.config import TrainConfig
from kzoo.utils.cli import add_debug_flag
from kzoo.utils.settings import Settings, add_arguments, given, setting


@dataclass
class BuilderShortcuts(Settings):
    """Builder arguments common enough to get their own flag; they land in `model_kwargs`."""

    dropout: float | None = setting(
        None, "dropout rate of the model (a builder argument; default: the builder's)",
        group="model", low=0.0, high=1.0, high_open=True,
    )


def add_train_args(
    parser: argparse.ArgumentParser, defaults: dict, smoke: bool = True, skip=()
) -> argparse.ArgumentParser:
    """Add the training options; only options given on the command line reach the namespace.

    Args:
        parser: a `kzoo.utils.cli.ArgumentParser` (its errors then name these flags).
        defaults: the command's defaults, shown in `--help`.
        smoke: add `--smoke` (a tiny run on offline data); False for commands without one.
        skip: `TrainConfig` fields the command sets itself (no flag).
    """
    add_arguments(parser, TrainConfig, defaults=defaults, skip=skip)
    shortcut_defaults = {"dropout": defaults.get("model_kwargs", {}).get("dropout")}
    add_arguments(parser, BuilderShortcuts, defaults=shortcut_defaults)
    if smoke:
        parser.add_argument(
            "--smoke",
            action="store_true",
            help="a tiny run on offline data (seconds; checks the recipe end to end); its run "
            "directory, search and exports are named smoke",
        )
    if not any("--debug" in a.option_strings for a in parser._actions):
        add_debug_flag(parser)
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
    A smoke run's directory is `runs/<recipe>/smoke-<model>-<dataset>` unless --run-dir is given.
    """
    options = given(args, TrainConfig)
    use_smoke = bool(getattr(args, "smoke", False) and smoke)
    values = {**defaults, **(smoke if use_smoke else {}), **options}
    values["model_kwargs"] = dict(values.get("model_kwargs", {}))
    shortcuts = given(args, BuilderShortcuts)
    if shortcuts:
        BuilderShortcuts(**shortcuts).validate_fields()
        values["model_kwargs"].update(shortcuts)
    if values.get("schedule") == "multistep" and "milestones" not in options and milestone_fractions:
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


def train_command(config: TrainConfig) -> str:
    """The `kzoo train` command that reproduces `config`: every fingerprinted setting whose value
    differs from `kzoo train`'s default, spelled as its flag (a test parses it back and compares
    the fingerprints)."""
    import shlex

    from kzoo.training.command import DEFAULTS
    from kzoo.utils.settings import declared

    words = ["kzoo", "train"]
    for d in declared(TrainConfig):
        if d.flag is None or d.spec.fingerprint is False:
            continue
        value = getattr(config, d.name)
        default = DEFAULTS.get(d.name, d.default)
        if d.name in ("model", "dataset") or value != default and not (
            d.kind is tuple and tuple(value) == tuple(default or ())
        ):
            words += _flag_words(d, value)
    return " ".join(shlex.quote(w) for w in words)


def _flag_words(d, value) -> list[str]:
    import json

    flag = d.flag
    if d.kind is bool:
        if d.optional:
            return [flag if value else "--no-" + flag[2:]]
        if d.default is True or flag.startswith("--no-"):
            return [] if value else [flag if flag.startswith("--no-") else "--no-" + flag[2:]]
        return [flag] if value else []
    if d.kind is dict:
        return [w for k, v in value.items()
                for w in (flag, f"{k}={v if isinstance(v, str) else json.dumps(v)}")]
    if d.kind is tuple:
        return [flag, *map(str, value)]
    return [flag, str(value)]
