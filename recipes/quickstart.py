"""Quickstart: train a kzoo ResNet on a real dataset that needs no network, test it, tune its
learning rate with a short search, and export the best model as a SavedModel ready to serve.

    python recipes/quickstart.py        # a few minutes on 2 CPU cores; --help lists every option

Step 1  data:      the UCI handwritten digits (8x8 grey images, 10 classes) through the same TFDS
                   pipeline as CIFAR; 10% of the training split is held out for validation.
Step 2  model:     ResNet-20 (He et al. 2015) from the registry, sized to the data.
Step 3  training:  SGD with Nesterov momentum, cosine decay, L2 weight decay; the run directory keeps
                   checkpoints (rerun to resume), TensorBoard logs, history, curves, the model.
Step 4  test:      the held-out test split, evaluated once at the end; a summary table.
Step 5  search:    a short keras-tuner random search over the learning rate (log scale); the best
                   setting is retrained on train + validation and tested once (--no-search skips it).
Step 6  export:    the best model becomes saved_models/quickstart_<model>/<version>/, a SavedModel
                   that takes raw pixels (--no-export skips it; --export-root picks the folder).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from kzoo.recipe import recipe_parser
from kzoo.training.cli_args import config_from_args
from kzoo.tuning.command import SMOKE_SUFFIX
from kzoo.utils.cli import run
from kzoo.utils.settings import Settings, add_arguments, given, setting


@dataclass
class Steps(Settings):
    """Which of the optional steps run, and where the export goes."""

    search: bool = setting(True, "step 5, the learning-rate search", group="run")
    export: bool = setting(True, "step 6, the export", group="run")
    export_root: str = setting("saved_models", "export folder", group="run", metavar="DIR")


DEFAULTS = dict(
    model="resnet20",
    dataset="digits",
    validation_split=0.1,
    epochs=10,
    batch_size=32,
    optimizer="nesterov",
    momentum=0.9,
    learning_rate=0.05,
    schedule="cosine",
    weight_decay=5e-4,
)
SMOKE = dict(epochs=2, max_steps_per_epoch=3, verbose=2)
SEARCH = dict(trials=4, trial_epochs=3, learning_rate=(0.005, 0.5, "log"))
SMOKE_SEARCH = dict(trials=2, trial_epochs=1, learning_rate=(0.005, 0.5, "log"))


def step_data(config):
    import kzoo.data

    info = kzoo.data.load(config.dataset, batch_size=config.batch_size, seed=config.seed).info
    print(
        f"[1/6] data   {info.name}: {info.num_train} train / {info.num_validation} validation / "
        f"{info.num_test} test examples of shape {tuple(info.input_shape)}, {info.num_classes} classes"
    )
    return info


def step_model(config, info) -> None:
    import kzoo

    model = kzoo.create_model(
        config.model, classes=info.num_classes, input_shape=tuple(info.input_shape)
    )
    params = sum(int(v.numpy().size) for v in model.trainable_variables)
    print(
        f"[2/6] model  {config.model}: {params:,} trainable parameters, {len(model.layers)} layers"
    )


def step_test(config, result, seconds: float) -> str:
    from kzoo.training.summary import format_table

    m = result.metrics
    best_val = max((r.get("val_accuracy", 0.0) for r in result.history), default=None)
    row = dict(model=m["model"], dataset=m["dataset"], params=f"{m['trainable_params']:,}",
               epochs=m["epochs_run"], best_val_acc=best_val, test_acc=m["test_accuracy"],
               test_loss=m["test_cross_entropy"], seconds=f"{seconds:.1f}")
    table = format_table([row])
    print(f"[4/6] test   held-out test split ({result.run_dir / 'metrics.json'})\n\n{table}\n")
    print(f"Curves:      {result.run_dir / 'curves.png'}")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir / 'logs'}")
    print(f"Model:       {result.run_dir / 'model.keras'}")
    return table


def step_search(config, search: dict):
    from kzoo.tuning import tune

    print(
        f"[5/6] search {search['trials']} trials x {search['trial_epochs']} epochs over the "
        f"learning rate {search['learning_rate'][:2]}, then retrain the best on train + validation"
    )
    result = tune(
        config.model,
        config.dataset,
        tuner="random",
        max_trials=search["trials"],
        epochs=search["trial_epochs"],
        overrides={"learning_rate": search["learning_rate"], "optimizer": config.optimizer},
        training=config,
        retrain_epochs=config.epochs,
        directory=f"{config.run_dir}-search",
        project_name="learning_rate",
        data_dir=config.data_dir,
        verbose=1,
    )
    best_lr = result.best_values["learning_rate"]
    print(
        f"       best learning rate {best_lr:.4g}: test accuracy "
        f"{result.test_metrics['test_accuracy']:.4f} (table: {result.paths.get('csv', '')})"
    )
    return result.final


def step_export(config, final, root: str, smoke: bool):
    from kzoo.export import export_run

    name = f"quickstart_{config.model}" + (SMOKE_SUFFIX if smoke else "")
    print(f"[6/6] export {name}: writing, reloading and verifying the SavedModel ...", flush=True)
    path = export_run(final.run_dir, name, root=root)
    print(f"       SavedModel with a raw-input serving signature: {path}")
    print(f"       try: kzoo info {path}")
    return path


def main(argv=None) -> int:
    parser = recipe_parser(__doc__, DEFAULTS, recipe="quickstart", tune=False)
    add_arguments(parser, Steps)
    args = parser.parse_args(argv)
    return run(parser.prog, lambda: quickstart(args), parser, argv)


def quickstart(args) -> int:
    from kzoo.export.paths import validate_root
    from kzoo.training import train
    from kzoo.training.distribute import is_chief, strategy_for

    steps = Steps(**given(args, Steps)).validate_fields()
    smoke = bool(getattr(args, "smoke", False))
    config = config_from_args(args, DEFAULTS, recipe="quickstart", smoke=SMOKE)
    config.validate()
    validate_root(steps.export_root)
    if config.strategy is not None and steps.search:
        raise config.error("step 5 runs on one device, not under {strategy}", "strategy",
                           hint="Add --no-search.")
    strategy = strategy_for(config.strategy)  # before TensorFlow runs an op (multi-worker)
    start = time.perf_counter()
    info = step_data(config)
    step_model(config, info)
    print(f"[3/6] train  {config.epochs} epochs, run directory {config.run_dir}")
    result = train(config)
    step_test(config, result, time.perf_counter() - start)
    if steps.search:
        result = step_search(config, SMOKE_SEARCH if smoke else SEARCH) or result
    if steps.export and is_chief(strategy):  # only the chief of a multi-worker job writes
        step_export(config, result, steps.export_root, smoke)
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
