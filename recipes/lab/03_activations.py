"""Lesson 3: activation functions -- learning curves of one 8-layer MLP with eight activations.

    python recipes/lab/03_activations.py --out runs/lab        # about 75 s on 2 CPU cores, 3 seeds
    python recipes/lab/03_activations.py --activations sigmoid relu selu  # a subset

Sigmoid, tanh, ReLU, leaky ReLU, PReLU, ELU, SELU and Maxout on MNIST-1D with Adam; writes
activations.png (training loss and accuracy per epoch, mean and min-max band over the seeds),
activations_seeds.png and activations.json.
"""

from __future__ import annotations

from kzoo.lab import activations
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("activations", __doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=8, help="hidden layers")
    parser.add_argument("--width", type=int, default=64, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 8)")
    parser.add_argument(
        "--activations",
        nargs="+",
        default=list(activations.ACTIVATIONS),
        choices=activations.ACTIVATIONS,
        help="activations to compare",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        activations,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depth=args.depth,
        width=args.width,
        epochs=args.epochs,
        activations=tuple(args.activations),
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "activations")
