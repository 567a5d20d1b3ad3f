"""Fine-tuning: initial weights, frozen layers and a smaller learning rate for the backbone.

As Keras' transfer-learning guide does it: the network starts from trained weights
(`TrainConfig.init_from`, any `weights=` source); the layers `freeze` names get `trainable=False`,
which keeps their weights fixed *and* runs their batch normalisation in inference mode (its moving
statistics are used and not updated), so frozen parts are bit-identical after training; the
trainable layers other than the classifier -- the backbone -- learn at `backbone_lr_multiplier`
times the learning rate (discriminative learning rates), through Keras' `MultiOptimizer`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kzoo.utils.errors import UserError

CLASSIFIER = "predictions"


def resolve_init(config):
    """`config` with `init_from_sha256` filled in from the source's bytes (it is part of the run's
    fingerprint); a given `init_from_sha256` that differs is refused. Nothing is built."""
    if config.init_from is None:
        return config
    from kzoo.models.pretrained import resolve_weights, source_sha256

    try:
        source = resolve_weights(config.init_from, model=config.model)
        if source.path is not None:
            here, run = Path(source.path).resolve(), Path(config.run_dir).resolve()
            if here == run or run in here.parents:
                raise UserError(
                    f"{config.init_from} lies inside the run directory {config.run_dir!r} that "
                    "this run writes (and --overwrite empties); copy it elsewhere or use another "
                    "--run-dir"
                )
        digest = source_sha256(source)
    except UserError as err:
        raise UserError(f"--init-from: {err}") from None
    if config.init_from_sha256 is not None and config.init_from_sha256 != digest:
        raise UserError(
            f"--init-from {config.init_from}: its sha256 is {digest}, not the "
            f"--init-from-sha256 {config.init_from_sha256} this run was given; refusing to "
            "fine-tune from other weights"
        )
    return dataclasses.replace(config, init_from_sha256=digest)


def load_initial_weights(model, config, dataset: str) -> dict:
    """Load `config.init_from` into `model`; the classifier is kept only for the same dataset and
    classes (another task starts a fresh one). Returns what metrics.json records about it."""
    from kzoo.models.pretrained import load_pretrained, resolve_weights

    source = resolve_weights(config.init_from, model=config.model)
    keep = source.dataset in (None, dataset)
    report = load_pretrained(model, source, keep_classifier=keep)
    if report.sha256 != config.init_from_sha256:
        raise UserError(
            f"--init-from {config.init_from} changed while the run started (sha256 "
            f"{report.sha256}, expected {config.init_from_sha256}); rerun"
        )
    return {"init_from": str(config.init_from), "init_from_sha256": report.sha256,
            "init_classifier": report.classifier}


def parse_freeze(spec):
    """`("backbone", None)`, `("blocks", N)` or `("prefix", text)` from a `freeze` setting."""
    if spec == "backbone":
        return "backbone", None
    if spec.isdigit():
        return "blocks", int(spec)
    return "prefix", spec


def freeze_layers(model, spec) -> list[str]:
    """Set `trainable=False` on the top-level layers `spec` names; return their names.

    Args:
        model: a built model.
        spec: "backbone" (every layer with weights except the classifier), "N" (the first N
            top-level layers holding weights: for kzoo's ResNets the stem convolution, its batch
            norm, then one residual block each), or a layer-name prefix ("stage1" freezes
            `stage1_block1`, ...). The classifier is never frozen.
    """
    if spec is None:
        return []
    kind, value = parse_freeze(spec)
    weighted = [layer for layer in model.layers if layer.weights and layer.name != CLASSIFIER]
    if kind == "backbone":
        chosen = weighted
        if not any(layer.name == CLASSIFIER for layer in model.layers):
            raise UserError(
                "--freeze backbone keeps all but the classifier fixed, and this model has no "
                f"{CLASSIFIER!r} layer: nothing would train"
            )
    elif kind == "blocks":
        if not 1 <= value <= len(weighted):
            raise UserError(
                f"--freeze {spec}: the model has {len(weighted)} layers with weights before its "
                f"classifier; freeze 1 to {len(weighted)} of them"
            )
        chosen = weighted[:value]
    else:
        chosen = [layer for layer in weighted if layer.name.startswith(value)]
        if not chosen and CLASSIFIER.startswith(value):
            raise UserError(
                f"--freeze {spec!r} names only the classifier ({CLASSIFIER!r}), which learns the "
                "new task and is never frozen; name layers below it"
            )
        if not chosen:
            names = ", ".join(layer.name for layer in weighted[:12])
            raise UserError(
                f"--freeze {spec!r}: no layer with weights starts with it (layers: {names}...)"
            )
    for layer in chosen:
        layer.trainable = False
    return [layer.name for layer in chosen]


def backbone_optimizer(config, steps: int, make_optimizer, lr_factor: float = 1.0):
    """The optimiser of a run with `backbone_lr_multiplier`: a `keras.optimizers.MultiOptimizer`
    whose classifier variables use `config`'s optimiser and learning rate and every other variable
    the same optimiser at `backbone_lr_multiplier` times the rate (schedule and warm-up alike)."""
    import keras

    def scaled(factor):
        return dataclasses.replace(
            config,
            learning_rate=config.learning_rate * factor,
            min_learning_rate=config.min_learning_rate * factor,
        )

    head = make_optimizer(scaled(lr_factor), steps)
    backbone = make_optimizer(scaled(lr_factor * config.backbone_lr_multiplier), steps)
    mapping = keras.optimizers.OptimizerMap(
        default_optimizer=head, optimizer_map={f"(?!{CLASSIFIER}/).*": backbone}
    )
    return keras.optimizers.MultiOptimizer(mapping)
