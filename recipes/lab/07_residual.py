"""Lesson 7: residual learning -- a deeper plain CNN trains worse, a deeper ResNet does not (digits).

    python recipes/lab/07_residual.py                      # 3 seeds, about 3 min on 2 CPU cores
    python recipes/lab/07_residual.py --depths 20 32       # another pair of depths
    python recipes/lab/07_residual.py --learning-rates 0.003 0.01 0.03   # each net at its best

Writes residual.png (training error per epoch over seeds, as He et al.'s Fig. 1 / 6; final loss
of every seed) and residual.json into runs/lab.
"""

from __future__ import annotations

from kzoo.lab import residual
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("residual", __doc__.splitlines()[0])
    parser.add_argument(
        "--depths",
        type=int,
        nargs=2,
        default=None,
        help=f"two depths from {' '.join(map(str, residual.RESNET_DEPTHS))} (default 20 56)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 8)")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[0.01],
                        help="SGD rates (momentum 0.9); with several, each net at its best")
    parser.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        residual,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depths=args.depths,
        epochs=args.epochs,
        learning_rates=args.learning_rates,
        batch_size=args.batch_size,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "residual")
