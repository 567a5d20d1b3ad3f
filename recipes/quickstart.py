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

import argparse
import sys
import time

import kzoo
import kzoo.data
from kzoo.export.paths import validate_root
from kzoo.training import TrainResult, train
from kzoo.training.cli_args import add_train_args, config_from_args
from kzoo.training.distribute import is_chief, strategy_for
from kzoo.training.summary import format_table

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


def step_data(config) -> kzoo.data.DatasetInfo:
    info = kzoo.data.load(config.dataset, batch_size=config.batch_size, seed=config.seed).info
    print(
        f"[1/6] data   {info.name}: {info.num_train} train / {info.num_validation} validation / "
        f"{info.num_test} test examples of shape {tuple(info.input_shape)}, {info.num_classes} classes"
    )
    return info


def step_model(config, info) -> None:
    model = kzoo.create_model(
        config.model, classes=info.num_classes, input_shape=tuple(info.input_shape)
    )
    params = sum(int(v.numpy().size) for v in model.trainable_variables)
    print(
        f"[2/6] model  {config.model}: {params:,} trainable parameters, {len(model.layers)} layers"
    )


def step_test(config, result: TrainResult, seconds: float) -> str:
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
        verbose=0,
    )
    best_lr = result.best_values["learning_rate"]
    print(
        f"       best learning rate {best_lr:.4g}: test accuracy "
        f"{result.test_metrics['test_accuracy']:.4f} (table: {result.paths.get('csv', '')})"
    )
    return result.final


def step_export(config, final, root: str):
    from kzoo.export import export_run

    path = export_run(final.run_dir, f"quickstart_{config.model}", root=root)
    print(f"[6/6] export SavedModel with a raw-input serving signature: {path}")
    print(f"       try: kzoo info {path}")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-search", dest="search", action="store_false", help="skip step 5")
    parser.add_argument("--no-export", dest="export", action="store_false", help="skip step 6")
    parser.add_argument("--export-root", default="saved_models", help="export folder [saved_models]")
    args = add_train_args(parser, DEFAULTS).parse_args(argv)
    search, export, root = args.search, args.export, args.export_root
    del args.search, args.export, args.export_root
    config = config_from_args(args, DEFAULTS, recipe="quickstart", smoke=SMOKE)
    config.validate()
    validate_root(root)
    if config.strategy is not None and search:
        parser.error(f"step 5 runs on one device; add --no-search for --strategy {config.strategy}")
    strategy = strategy_for(config.strategy)  # before TensorFlow runs an op (multi-worker)
    start = time.perf_counter()
    info = step_data(config)
    step_model(config, info)
    print(f"[3/6] train  {config.epochs} epochs, run directory {config.run_dir}")
    result = train(config)
    step_test(config, result, time.perf_counter() - start)
    if search:
        small = getattr(args, "smoke", False)
        result = step_search(config, SMOKE_SEARCH if small else SEARCH) or result
    if export and is_chief(strategy):  # only the chief of a multi-worker job writes
        step_export(config, result, root)
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
