"""`kzoo finetune RUN_OR_WEIGHTS --dataset D`: train from trained weights on another dataset.

The source is any `weights=` value (a finished run directory, a `.keras` / `.weights.h5` file, an
exported SavedModel, or a registered weights name with `--model`); the model and its builder
arguments default to the ones the source was trained with. Everything else is `kzoo train`: the
same flags (with fine-tuning defaults: Adam at 1e-3, cosine schedule, the backbone at a tenth of
the rate), a resumable run directory (`runs/finetune/<model>-<dataset>`) whose fingerprint holds
the source's sha256, and `kzoo export` / `kzoo evaluate` afterwards.
"""

from __future__ import annotations

import argparse

from kzoo.utils.errors import UserError

DEFAULTS = dict(
    epochs=10,
    batch_size=128,
    optimizer="adam",
    learning_rate=1e-3,
    schedule="cosine",
    backbone_lr_multiplier=0.1,
)


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the `finetune` subcommand to the `kzoo` command's subparsers."""
    from kzoo.training.cli_args import add_train_args

    parser = sub.add_parser(
        "finetune",
        help="fine-tune trained weights on a dataset (transfer learning)",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
    )
    parser.add_argument(
        "source", metavar="RUN_OR_WEIGHTS",
        help="a finished run directory, a .keras or .weights.h5 file, an exported SavedModel, or "
        "a registered weights name (with --model)",
    )
    add_train_args(parser, DEFAULTS, smoke=False, skip=("init_from",))
    parser.set_defaults(func=run)
    return parser


def finetune_defaults(source: str, model: str | None, defaults: dict = DEFAULTS) -> dict:
    """`defaults` plus `init_from`, the model the source was trained as and its builder arguments
    (all but `classes` and `input_shape`, which the new dataset decides)."""
    from kzoo.models.pretrained import looks_like_path, resolve_weights
    from kzoo.registry import get_entry

    if model is None and not looks_like_path(source):
        from kzoo.models.weights_registry import list_weights

        shipped = ", ".join(f"{t} --model {m}" for m, t in list_weights())
        raise UserError(
            f"{source!r} is not a file or directory; as a registered weights name it needs --model "
            f"(registered: {shipped})"
        )
    if model is not None:
        get_entry(model)
    found = resolve_weights(source, model=model)
    chosen = model or found.model
    if chosen is None:
        raise UserError(
            f"{source!r} does not record the model it was trained as; pass --model (kzoo list)"
        )
    recorded = {}
    if found.model in (None, chosen):
        recorded = {k: v for k, v in found.builder_kwargs.items()
                    if k not in ("classes", "input_shape")}
    return {**defaults, "model": chosen, "init_from": source, "model_kwargs": recorded}


def run(args) -> int:
    from kzoo.training.cli_args import config_from_args
    from kzoo.training.config import TrainConfig
    from kzoo.utils.settings import given

    options = given(args, TrainConfig)
    if "dataset" not in options:
        raise UserError("--dataset required: the dataset to fine-tune on (kzoo datasets)")
    defaults = finetune_defaults(args.source, options.get("model"))
    if "model_kwargs" in options:  # --model-arg adds to the source's builder arguments
        args.model_kwargs = {**defaults["model_kwargs"], **options["model_kwargs"]}
    config = config_from_args(args, defaults, recipe="finetune")
    config.validate()
    from kzoo.training import train
    from kzoo.training.summary import format_table

    metrics = train(config).metrics
    keys = ("model", "dataset", "epochs_run", "test_accuracy", "test_loss", "trainable_params")
    print(format_table([{k: metrics[k] for k in keys} | {"run_dir": config.run_dir}]))
    return 0
