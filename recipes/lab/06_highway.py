"""Lesson 6: plain MLPs stop training as depth grows; highway MLPs keep training (UCI digits).

    python recipes/lab/06_highway.py                        # 3 seeds, about 8 min on 2 CPU cores
    python recipes/lab/06_highway.py --depths 10 20 50      # other depths

Writes highway.png (training accuracy per depth, loss curves at each net's best rate, gate activity
per layer; every seed) and highway.json into runs/lab.
"""

from __future__ import annotations

from kzoo.lab import highway
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("highway", __doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=None, help="default 10 50 100")
    parser.add_argument("--width", type=int, default=50, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 40)")
    parser.add_argument("--learning-rates", type=float, nargs="+", default=None,
                        help="SGD rates (momentum 0.9) tried for every net; each is shown at its "
                             "best (default 0.003 0.03 for plain, 0.03 0.3 for highway nets)")
    parser.add_argument("--gate-bias", type=float, default=-4.0, help="initial transform-gate bias")
    parser.add_argument("--warmup-epochs", type=int, default=2,
                        help="epochs over which the rate rises linearly from zero")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        highway,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depths=args.depths,
        width=args.width,
        epochs=args.epochs,
        learning_rates=args.learning_rates,
        transform_bias_init=args.gate_bias,
        warmup_epochs=args.warmup_epochs,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "highway")
