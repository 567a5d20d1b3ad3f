"""Lesson 6: plain MLPs stop training as depth grows; highway MLPs keep training (UCI digits).

    python recipes/lab/06_highway.py --out runs/lab          # a few minutes on 2 CPU cores
    python recipes/lab/06_highway.py --depths 10 50 100      # other depths

Writes highway.png (training accuracy per depth; transform-gate activity per layer) and highway.json.
"""

from __future__ import annotations

from kzoo.lab import highway
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("highway", __doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=None, help="default 5 20 50")
    parser.add_argument("--width", type=int, default=50, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 15)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--gate-bias", type=float, default=-4.0, help="initial transform-gate bias")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        highway,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        depths=args.depths,
        width=args.width,
        epochs=args.epochs,
        learning_rate=args.lr,
        transform_bias_init=args.gate_bias,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "highway")
