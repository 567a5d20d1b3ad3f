"""Lesson 12: gradient checking -- a correct backward pass, a buggy one, float32 vs float64, kinks.

    python recipes/lab/12_gradient_checking.py --out runs/lab    # about 55 s on 2 CPU cores over 3 seeds
    python recipes/lab/12_gradient_checking.py --smoke           # seconds

Writes gradient_checking.png (per-tensor errors of a right and a wrong hand-written gradient; the
error against the step in float32 and float64; kink crossings of a ReLU) and gradient_checking.json.
"""

from __future__ import annotations

from kzoo.lab import gradient_checking
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("gradient_checking", __doc__.splitlines()[0])
    parser.add_argument(
        "--steps",
        type=float,
        nargs="+",
        default=None,
        help="finite-difference steps h (default 1e-1 ... 1e-8)",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        gradient_checking, args.out, seeds=args.seeds, smoke=args.smoke, workers=args.workers,
        steps=args.steps,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "gradient_checking")
