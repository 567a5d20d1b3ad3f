"""Quickstart: train a kzoo ResNet on a real dataset that needs no network, then test it.

    python recipes/quickstart.py              # about a minute on 2 CPU cores
    python recipes/quickstart.py --help       # every option (model, epochs, learning rate, ...)

Step 1  data:      the UCI handwritten digits (8x8 grey images, 10 classes) through the same TFDS
                   pipeline as CIFAR; 10% of the training split is held out for validation.
Step 2  model:     ResNet-20 (He et al. 2015) from the registry, sized to the data.
Step 3  training:  SGD with Nesterov momentum, cosine learning-rate decay, L2 weight decay; the run
                   directory keeps checkpoints (rerun the command to resume), TensorBoard logs,
                   history, curves and the final model.
Step 4  test:      the held-out test split, evaluated once at the end; a summary table.
"""

from __future__ import annotations

import argparse
import sys
import time

import kzoo
import kzoo.data
from kzoo.training import TrainResult, train
from kzoo.training.cli_args import add_train_args, config_from_args
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


def step_data(config) -> kzoo.data.DatasetInfo:
    info = kzoo.data.load(config.dataset, batch_size=config.batch_size, seed=config.seed).info
    print(
        f"[1/4] data   {info.name}: {info.num_train} train / {info.num_validation} validation / "
        f"{info.num_test} test examples of shape {tuple(info.input_shape)}, {info.num_classes} classes"
    )
    return info


def step_model(config, info) -> None:
    model = kzoo.create_model(
        config.model, classes=info.num_classes, input_shape=tuple(info.input_shape)
    )
    params = sum(int(v.numpy().size) for v in model.trainable_variables)
    print(
        f"[2/4] model  {config.model}: {params:,} trainable parameters, {len(model.layers)} layers"
    )


def step_train(config) -> TrainResult:
    print(f"[3/4] train  {config.epochs} epochs, run directory {config.run_dir}")
    return train(config)


def step_test(config, result: TrainResult, seconds: float) -> str:
    m = result.metrics
    best_val = max((r.get("val_accuracy", 0.0) for r in result.history), default=None)
    row = {
        "model": m["model"],
        "dataset": m["dataset"],
        "params": f"{m['trainable_params']:,}",
        "epochs": m["epochs_run"],
        "best_val_acc": best_val,
        "test_acc": m["test_accuracy"],
        "test_loss": m["test_cross_entropy"],
        "seconds": f"{seconds:.1f}",
    }
    table = format_table([row])
    print(f"[4/4] test   held-out test split ({result.run_dir / 'metrics.json'})\n\n{table}\n")
    print(f"Curves:      {result.run_dir / 'curves.png'}")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir / 'logs'}")
    print(f"Model:       {result.run_dir / 'model.keras'}")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    args = add_train_args(parser, DEFAULTS).parse_args(argv)
    config = config_from_args(args, DEFAULTS, recipe="quickstart", smoke=SMOKE)
    config.validate()
    start = time.perf_counter()
    info = step_data(config)
    step_model(config, info)
    result = step_train(config)
    step_test(config, result, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
