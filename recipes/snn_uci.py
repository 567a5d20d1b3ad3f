"""Self-normalizing networks vs. other MLPs on UCI data sets, after Klambauer et al. (2017), Sec. 4.1.

The paper compares SNNs (SELU, LeCun-normal weights, alpha dropout) with MLPs that use MSRA (He)
initialisation and ReLU, batch normalisation, layer normalisation, weight normalisation, highway
layers and residual layers on 121 UCI tasks, and ranks the methods per task by accuracy (average
rank difference to the mean: SNN -0.756, MSRAinit -0.240, LayerNorm -0.198, Highway 0.021,
ResNet 0.273, WeightNorm 0.397, BatchNorm 0.504). The paper selects depth, width, learning rate and
(SNN) dropout per task on a validation split; this recipe fixes one setting for all methods
(--depth, --width, --lr), trains each with SGD and early stopping on a 15% validation split, and
ranks the methods by test accuracy on the offline UCI sets (ResNet = kzoo's residual_mlp).

    python recipes/snn_uci.py                      # offline, a few minutes
    python recipes/snn_uci.py --datasets wine iris --depth 16
    python recipes/snn_uci.py --tune --max-trials 10   # search each method on each data set, then
                                                       # rank the retrained best settings
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.training import TrainConfig, train
from kzoo.training.distribute import is_chief, strategy_for
from kzoo.training.summary import format_table
from kzoo.tuning.command import add_tune_arguments, pop_tune_args, tune_recipe
from kzoo.utils.files import atomic_write_json, atomic_write_text

# method -> (registered model, builder arguments); depth and width are added from the CLI.
METHODS = {
    "SNN": ("snn_mlp", {"dropout": 0.05}),
    "MSRAinit": ("plain_mlp", {"activation": "relu", "init": "he_normal"}),
    "BatchNorm": ("plain_mlp", {"activation": "relu", "norm": "batch"}),
    "LayerNorm": ("plain_mlp", {"activation": "relu", "norm": "layer"}),
    "WeightNorm": ("plain_mlp", {"activation": "relu", "norm": "weight"}),
    "Highway": ("highway_mlp", {"activation": "relu"}),
    "ResNet": ("residual_mlp", {"activation": "relu"}),
}
SETTINGS = dict(
    epochs=100, batch_size=32, learning_rate=0.01, depth=8, width=256, validation_split=0.15
)
DATASETS = ["breast_cancer", "wine", "iris", "digits"]
SMOKE = dict(
    epochs=2,
    depth=2,
    width=16,
    datasets=["iris"],
    methods=["SNN", "BatchNorm"],
    max_steps_per_epoch=2,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", nargs="+", default=None, help=f"[{' '.join(DATASETS)}]")
    parser.add_argument("--methods", nargs="+", default=None, choices=list(METHODS))
    for flag, value in SETTINGS.items():
        parser.add_argument(
            f"--{flag.replace('_', '-')}", dest=flag, type=type(value), default=None
        )
    parser.add_argument("--lr", dest="learning_rate", type=float, default=None)
    parser.add_argument("--patience", type=int, default=10, help="early stopping patience [10]")
    parser.add_argument("--max-steps-per-epoch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs/snn_uci", help="root of the runs [runs/snn_uci]")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a tiny offline run (seconds)")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument(
        "--strategy", default=None, help="mirrored, multiworker or tpu (default: one device)"
    )
    add_tune_arguments(parser, with_model=False)
    args = parser.parse_args(argv)
    if args.tune and args.strategy:
        parser.error("--tune trains its trials on one device; drop --strategy to search")
    defaults = {**SETTINGS, "datasets": DATASETS, "methods": list(METHODS)}
    defaults |= SMOKE if args.smoke else {}
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score in each column; ties share their average rank."""
    out = np.empty_like(scores, dtype=float)
    for j in range(scores.shape[1]):
        column = scores[:, j]
        for i, value in enumerate(column):
            out[i, j] = 1 + np.sum(column > value) + (np.sum(column == value) - 1) / 2
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    tuning = pop_tune_args(args)
    tf.get_logger().setLevel("ERROR")  # one model after another retraces; that is expected here
    root = Path(args.run_dir)
    accuracy = np.zeros((len(args.methods), len(args.datasets)))
    for i, method in enumerate(args.methods):
        model, kwargs = METHODS[method]
        for j, dataset in enumerate(args.datasets):
            config = TrainConfig(
                model=model,
                model_kwargs={**kwargs, "depth": args.depth, "width": args.width},
                dataset=dataset,
                run_dir=str(root / f"{method}-{dataset}"),
                epochs=args.epochs,
                batch_size=args.batch_size,
                validation_split=args.validation_split,
                optimizer="sgd",
                learning_rate=args.learning_rate,
                early_stopping_patience=args.patience,
                max_steps_per_epoch=args.max_steps_per_epoch,
                seed=args.seed,
                tensorboard=False,
                overwrite=args.overwrite,
                verbose=args.verbose,
                strategy=args.strategy,
            )
            if tuning.tune:  # the paper's per-task selection (kzoo.tuning's search space)
                tuned = tune_recipe(tuning, config, task=f"{method}-{dataset}").test_metrics
                accuracy[i, j] = (tuned or {"test_accuracy": np.nan})["test_accuracy"]
            else:
                accuracy[i, j] = train(config).metrics["test_accuracy"]
            print(f"{method:>10} on {dataset:<14} test accuracy {accuracy[i, j]:.4f}", flush=True)
            keras.backend.clear_session()
    rank = ranks(accuracy)
    rows = [
        {"method": m, "average_rank": float(rank[i].mean())}
        | {d: float(accuracy[i, j]) for j, d in enumerate(args.datasets)}
        for i, m in enumerate(args.methods)
    ]
    rows.sort(key=lambda r: r["average_rank"])
    table = format_table(rows)
    print("\nTest accuracy and average rank (1 = best) per method:\n" + table)
    if is_chief(strategy_for(args.strategy)):  # only the chief of a multi-worker job writes
        atomic_write_text(root / "results.md", table + "\n")
        atomic_write_json(root / "results.json", {"settings": vars(args), "results": rows})
        print(f"\nSaved {root / 'results.md'} and {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
