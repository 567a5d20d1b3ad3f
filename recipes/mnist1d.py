"""MNIST-1D's baselines reproduced (Greydanus 2020): logistic regression, MLP, CNN, GRU -- and a
2-D Grid LSTM (Kalchbrenner et al. 2015) as a fifth row.

The paper's set-up (its models.py, train.py and quickstart): the default MNIST-1D -- 4,000 train /
1,000 test signals of length 40, generated offline by the `mnist1d` package (seed 42) -- fed raw
(no normalisation), Adam at learning rate 1e-2, batch 100, 6,000 steps (150 epochs), no weight
decay, float32; test accuracy after the last step. Its models: a linear classifier; an MLP of 100
ReLU units with a residual second layer (15,210 parameters); a CNN of three stride-2 convolutions
of 25 channels (kernels 5, 3, 3, padding 1) and a linear read-out of the flattened 5 x 25
features (5,210); a bidirectional GRU of 6 units read out from all 40 steps (5,134) -- kzoo's
registered `gru`. The Grid LSTM row is kzoo's registered `grid_lstm` (tied weights, 3 blocks of
16 units along depth, 4,410 parameters), trained the same way.

    python recipes/mnist1d.py                       # all five rows, ~15 minutes on 2 busy CPU cores
    python recipes/mnist1d.py --models gru grid_lstm --seed 1
    python recipes/mnist1d.py --smoke               # seconds: 2 epochs of 3 steps each

Writes runs/mnist1d/<model>/ (each a kzoo run directory) and runs/mnist1d/results.md / .json: the
paper's and the measured test accuracy side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras

import kzoo
from kzoo.training import TrainConfig, train
from kzoo.training.summary import format_table
from kzoo.utils.files import atomic_write_json, atomic_write_text

PAPER = dict(dataset="mnist1d", epochs=150, batch_size=100, validation_split=0.0,
             optimizer="adam", learning_rate=1e-2, schedule="constant", normalize="none",
             mixed_precision="float32")
SMOKE = dict(epochs=2, max_steps_per_epoch=3)
# name -> (label, registered model, builder arguments, the paper's test accuracy in %)
ROWS = {
    "logistic": ("logistic regression", "mnist1d_logistic", {}, 32.0),
    "mlp": ("MLP", "plain_mlp", dict(depth=1, width=100, layer_type="residual"), 68.0),
    "cnn": ("CNN", "mnist1d_cnn", {}, 94.0),
    "gru": ("GRU", "gru", {}, 91.0),
    "grid_lstm": ("Grid LSTM", "grid_lstm", {}, None),
}


def mnist1d_logistic(*, input_shape=(40, 1), classes=10, classifier_activation="softmax",
                     name="mnist1d_logistic"):
    """Greydanus' LinearBase: one linear layer on the 40 raw values (410 parameters)."""
    inputs = keras.Input(input_shape, name="input")
    x = keras.layers.Flatten(name="flatten")(inputs)
    outputs = keras.layers.Dense(classes, classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def mnist1d_cnn(*, input_shape=(40, 1), classes=10, classifier_activation="softmax",
                channels=25, name="mnist1d_cnn"):
    """Greydanus' ConvBase: three ReLU convolutions of stride 2 and padding 1, then linear."""
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for i, kernel in enumerate((5, 3, 3), start=1):
        x = keras.layers.ZeroPadding1D(1, name=f"pad_{i}")(x)
        x = keras.layers.Conv1D(channels, kernel, strides=2, activation="relu", name=f"conv_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(classes, classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def register_paper_models() -> None:
    for builder in (mnist1d_logistic, mnist1d_cnn):
        if builder.__name__ not in kzoo.list_models():
            kzoo.register_model(builder, paper="Greydanus. Scaling down Deep Learning. 2020",
                                default_input_shape=(40, 1))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs/mnist1d", help="root of the runs [runs/mnist1d]")
    parser.add_argument("--overwrite", action="store_true", help="retrain finished runs")
    parser.add_argument("--smoke", action="store_true", help="2 epochs of 3 steps per model")
    parser.add_argument("--verbose", type=int, default=0, choices=(0, 1, 2))
    return parser.parse_args(argv)


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    register_paper_models()
    root = Path(args.run_dir)
    settings = {**PAPER, **(SMOKE if args.smoke else {})}
    rows = []
    for key in args.models:
        label, model, kwargs, paper = ROWS[key]
        config = TrainConfig(model=model, model_kwargs=kwargs, run_dir=str(root / key),
                             seed=args.seed, tensorboard=False, overwrite=args.overwrite,
                             verbose=args.verbose, **settings)
        start = time.perf_counter()
        result = train(config)
        ours = 100.0 * result.metrics["test_accuracy"]
        rows.append({"key": key, "model": label, "params": result.metrics["trainable_params"],
                     "paper": paper, "ours": ours, "seconds": time.perf_counter() - start})
        print(f"{label:>20}: test accuracy {ours:.1f}% (paper: {paper or '-'})", flush=True)
        keras.backend.clear_session()
    table = format_table([
        {"model": r["model"], "params": f"{r['params']:,}",
         "paper": "–" if r["paper"] is None else f"{r['paper']:.0f}%", "ours": f"{r['ours']:.1f}%",
         "train seconds": f"{r['seconds']:.0f}"} for r in rows
    ])
    print(f"\nMNIST-1D test accuracy, paper vs ours (seed {args.seed}):\n{table}")
    atomic_write_text(root / "results.md", table + "\n")
    atomic_write_json(root / "results.json", {"settings": settings, "seed": args.seed,
                                              "smoke": args.smoke, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
