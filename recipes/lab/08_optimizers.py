"""Lesson 8: SGD, momentum, Adagrad, RMSProp and Adam on one MLP (MNIST-1D); 1/t decay vs constant.

    python recipes/lab/08_optimizers.py --out runs/lab   # about 2 min on 2 cores over 3 seeds
    python recipes/lab/08_optimizers.py --epochs 20 --width 256  # a longer budget, a wider net

Every optimiser runs at its conventional rate and over a three-point half-decade grid around its
best rate; the figure shows learning curves at the best and conventional rates, the grids, and
plain SGD with a constant rate vs the lecture's 1/t decay. Writes optimizers.png and optimizers.json.
"""

from __future__ import annotations

from kzoo.lab import optimizers
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("optimizers", __doc__.splitlines()[0])
    parser.add_argument(
        "--optimizers",
        nargs="+",
        default=list(optimizers.OPTIMIZERS),
        choices=optimizers.OPTIMIZERS,
        help="which optimisers (sgd is required)",
    )
    parser.add_argument("--depth", type=int, default=3, help="hidden layers")
    parser.add_argument("--width", type=int, default=128, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 10)")
    parser.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    parser.add_argument(
        "--large-rate",
        type=float,
        default=1.0,
        help="SGD rate at which constant and 1/t decay are compared",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        optimizers,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        optimizers=args.optimizers,
        depth=args.depth,
        width=args.width,
        epochs=args.epochs,
        batch_size=args.batch_size,
        large_rate=args.large_rate,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "optimizers")
