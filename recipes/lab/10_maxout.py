"""Lesson 10: a maxout unit learns its activation -- ReLU, |x|, x^2 as convex piecewise-linear fits.

    python recipes/lab/10_maxout.py --out runs/lab       # under a minute on 2 CPU cores
    python recipes/lab/10_maxout.py --pieces 6           # more pieces, a closer x^2

Writes maxout.png (target and learned function per target) and maxout.json.
"""

from __future__ import annotations

from kzoo.lab import maxout
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("maxout", __doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=4, help="linear pieces per unit")
    parser.add_argument("--epochs", type=int, default=None, help="full-batch steps (default 400)")
    parser.add_argument("--targets", nargs="+", choices=sorted(maxout.TARGETS), default=None)
    args = parser.parse_args(argv)
    result = run_over_seeds(
        maxout,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        pieces=args.pieces,
        epochs=args.epochs,
        targets=args.targets,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "maxout")
