"""Lesson 2: weight initialisation -- activations of 10-layer tanh / ReLU stacks at initialisation.

    python recipes/lab/02_initialization.py --out runs/lab   # about 10 s on 2 CPU cores over 5 seeds
    python recipes/lab/02_initialization.py --depth 20       # a deeper stack

Compares small (0.01 N(0,1)), large (N(0,1)), Xavier/Glorot and Kaiming/He weights on N(0,1)
inputs; writes initialization.png (std per layer + histograms) and initialization.json.
"""

from __future__ import annotations

from kzoo.lab import initialization
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("initialization", __doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10, help="hidden layers")
    parser.add_argument("--width", type=int, default=256, help="units per hidden layer")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        initialization,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depth=args.depth,
        width=args.width,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "initialization")
