"""`kzoo train`: train any registered model on any dataset with the engine's options."""

from __future__ import annotations

import argparse

from kzoo.utils.errors import UserError

DEFAULTS = dict(
    epochs=10,
    batch_size=128,
    optimizer="momentum",
    momentum=0.9,
    learning_rate=0.1,
    schedule="cosine",
)


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the `train` subcommand to the `kzoo` command's subparsers."""
    from kzoo.training.cli_args import add_train_args

    parser = sub.add_parser(
        "train",
        help="train a model on a dataset (resumable run directory)",
        description="Train --model on --dataset. Rerun the same command to resume an interrupted "
        "run; a run directory made by other settings is refused unless --overwrite.",
    )
    add_train_args(parser, DEFAULTS, smoke=False)
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from kzoo.training.cli_args import config_from_args
    from kzoo.training.config import TrainConfig
    from kzoo.utils.settings import given

    options = given(args, TrainConfig)
    missing = [flag for flag in ("model", "dataset") if flag not in options]
    if missing:
        raise UserError(f"--{' and --'.join(missing)} required (kzoo list / kzoo datasets)")
    config = config_from_args(args, DEFAULTS, recipe="train")
    config.validate()
    from kzoo.training import train
    from kzoo.training.distribute import strategy_for
    from kzoo.training.summary import format_table

    strategy_for(config.strategy)  # no TPU, a TF_CONFIG TensorFlow rejects: errors here
    metrics = train(config).metrics
    keys = ("model", "dataset", "epochs_run", "test_accuracy", "test_loss", "trainable_params")
    print(format_table([{k: metrics[k] for k in keys} | {"run_dir": config.run_dir}]))
    return 0
