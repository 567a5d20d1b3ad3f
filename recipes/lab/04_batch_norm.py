"""Lesson 4: batch normalisation -- steps to a target accuracy and the largest stable learning rate.

    python recipes/lab/04_batch_norm.py                  # 3 seeds, about 2 min on 2 CPU cores
    python recipes/lab/04_batch_norm.py --target 0.95    # a harder target

A 10-layer ReLU MLP with and without batch norm, plain SGD over a learning-rate grid, on the UCI
digits; writes batch_norm.png and batch_norm.json into runs/lab.
"""

from __future__ import annotations

from kzoo.lab import batch_norm
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("batch_norm", __doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10, help="hidden layers")
    parser.add_argument("--width", type=int, default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 8)")
    parser.add_argument("--target", type=float, default=0.9, help="held-out accuracy target")
    parser.add_argument(
        "--learning-rates",
        type=float,
        nargs="+",
        default=None,
        help=f"SGD learning rates (default {' '.join(map(str, batch_norm.LEARNING_RATES))})",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        batch_norm,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depth=args.depth,
        width=args.width,
        epochs=args.epochs,
        target=args.target,
        learning_rates=args.learning_rates,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "batch_norm")
