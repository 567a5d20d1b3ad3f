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

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kzoo.recipe import recipe_parser
from kzoo.training.config import TrainConfig
from kzoo.tuning.command import pop_tune_args, tune_recipe
from kzoo.utils.cli import run
from kzoo.utils.settings import Settings, add_arguments, given, setting

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
DATASETS = ("breast_cancer", "wine", "iris", "digits")
# The TrainConfig settings every method shares (one setting for all, as described above).
SETTINGS = dict(
    epochs=100, batch_size=32, learning_rate=0.01, validation_split=0.15, optimizer="sgd",
    early_stopping_patience=10, tensorboard=False, verbose=0,
)
SHARED = ("epochs", "batch_size", "learning_rate", "validation_split", "early_stopping_patience",
          "max_steps_per_epoch", "seed", "overwrite", "verbose", "strategy")


@dataclass
class Comparison(Settings):
    """What this recipe compares: which methods, on which data sets, at which depth and width."""

    datasets: tuple[str, ...] = setting(DATASETS, "UCI data sets to compare on", group="data",
                                        metavar="NAME")
    methods: tuple[str, ...] = setting(tuple(METHODS), "methods to compare", group="model",
                                       metavar="METHOD")
    depth: int = setting(8, "hidden layers of every method's network", group="model", low=1)
    width: int = setting(256, "units per hidden layer", group="model", low=1)
    root: str = setting("runs/snn_uci", "root of the runs (one directory per method and data set)",
                        group="run", flag="--run-dir", metavar="DIR")

    def validate(self) -> Comparison:
        self.validate_fields()
        for name, valid in (("datasets", DATASETS), ("methods", tuple(METHODS))):
            bad = [v for v in getattr(self, name) if v not in valid]
            if bad or not getattr(self, name):
                raise self.error("{" + name + "} must be among " + ", ".join(valid), name)
        return self


SMOKE = dict(epochs=2, max_steps_per_epoch=2)
SMOKE_COMPARISON = dict(depth=2, width=16, datasets=("iris",), methods=("SNN", "BatchNorm"))


def parse_args(argv=None):
    parser = recipe_parser(__doc__, SETTINGS, recipe="snn_uci", train=False)
    add_arguments(parser, TrainConfig, only=SHARED, defaults=SETTINGS)
    add_arguments(parser, Comparison)
    parser.add_argument("--smoke", action="store_true", help="a tiny offline run (seconds)")
    return parser, parser.parse_args(argv)


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = highest score in each column; ties share their average rank."""
    out = np.empty_like(scores, dtype=float)
    for j in range(scores.shape[1]):
        column = scores[:, j]
        for i, value in enumerate(column):
            out[i, j] = 1 + np.sum(column > value) + (np.sum(column == value) - 1) / 2
    return out


def main(argv=None) -> int:
    parser, args = parse_args(argv)
    return run(parser.prog, lambda: compare(args), parser, argv)


def compare(args) -> int:
    import keras
    import tensorflow as tf

    from kzoo.training import train
    from kzoo.training.distribute import is_chief, strategy_for
    from kzoo.training.summary import format_table
    from kzoo.utils.files import atomic_write_json, atomic_write_text

    tuning = pop_tune_args(args)
    shared = {**SETTINGS, **(SMOKE if args.smoke else {}), **given(args, TrainConfig)}
    comparison = Comparison(**{**(SMOKE_COMPARISON if args.smoke else {}),
                               **given(args, Comparison)}).validate()
    tf.get_logger().setLevel("ERROR")  # one model after another retraces; that is expected here
    root = Path(comparison.root)
    configs = {
        (method, dataset): TrainConfig(
            model=METHODS[method][0],
            model_kwargs={**METHODS[method][1], "depth": comparison.depth,
                          "width": comparison.width},
            dataset=dataset,
            run_dir=str(root / f"{method}-{dataset}"),
            **shared,
        ).validate()
        for method in comparison.methods
        for dataset in comparison.datasets
    }  # every setting checked before the first run
    accuracy = np.zeros((len(comparison.methods), len(comparison.datasets)))
    for i, method in enumerate(comparison.methods):
        for j, dataset in enumerate(comparison.datasets):
            config = configs[method, dataset]
            if tuning.tune:  # the paper's per-task selection (kzoo.tuning's search space)
                task = f"{method}-{dataset}"
                tuned = tune_recipe(tuning, config, task=task, smoke=args.smoke).test_metrics
                accuracy[i, j] = (tuned or {"test_accuracy": np.nan})["test_accuracy"]
            else:
                accuracy[i, j] = train(config).metrics["test_accuracy"]
            print(f"{method:>10} on {dataset:<14} test accuracy {accuracy[i, j]:.4f}", flush=True)
            keras.backend.clear_session()
    rank = ranks(accuracy)
    rows = [
        {"method": m, "average_rank": float(rank[i].mean())}
        | {d: float(accuracy[i, j]) for j, d in enumerate(comparison.datasets)}
        for i, m in enumerate(comparison.methods)
    ]
    rows.sort(key=lambda r: r["average_rank"])
    table = format_table(rows)
    print("\nTest accuracy and average rank (1 = best) per method:\n" + table)
    if is_chief(strategy_for(shared.get("strategy"))):  # only a multi-worker job's chief writes
        settings = {"shared": shared, "comparison": comparison.to_dict(), "smoke": args.smoke}
        atomic_write_text(root / "results.md", table + "\n")
        atomic_write_json(root / "results.json", {"settings": settings, "results": rows})
        print(f"\nSaved {root / 'results.md'} and {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
