"""Lesson 1: vanishing gradients in a deep sigmoid MLP (vs ReLU + He init), on MNIST-1D.

    python recipes/lab/01_vanishing_gradients.py --out runs/lab   # about 40 s on 2 CPU cores over 4 seeds
    python recipes/lab/01_vanishing_gradients.py --depth 10        # a shallower stack

Writes vanishing_gradients.png (per-layer gradient norms, log scale) and vanishing_gradients.json.
"""

from __future__ import annotations

from kzoo.lab import vanishing_gradients
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("vanishing_gradients", __doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20, help="hidden layers")
    parser.add_argument("--width", type=int, default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 5)")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        vanishing_gradients,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depth=args.depth,
        width=args.width,
        epochs=args.epochs,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "vanishing_gradients")
