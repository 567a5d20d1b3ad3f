"""Lesson 5: SELU self-normalisation -- a deep SNN keeps activations at mean 0, variance 1 (digits).

    python recipes/lab/05_selu.py --out runs/lab          # about 80 s on 2 cores over 3 seeds
    python recipes/lab/05_selu.py --depth 100 --draws 5   # deeper, fewer initialisations

Writes selu.png (activation variance and mean per layer at init for SNN / ReLU + He / ReLU + LeCun;
training loss of a 32-layer SNN vs ReLU MLP) and selu.json.
"""

from __future__ import annotations

from kzoo.lab import selu
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("selu", __doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=None, help="layers at init (default 48)")
    parser.add_argument("--width", type=int, default=256, help="units per hidden layer")
    parser.add_argument("--draws", type=int, default=None, help="initialisations (default 10)")
    parser.add_argument("--probe-layer", type=int, default=32, help="layer the claim is read at")
    parser.add_argument("--train-depth", type=int, default=None,
                        help="layers of the trained nets (default 32)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 5)")
    parser.add_argument(
        "--learning-rates",
        type=float,
        nargs="+",
        default=None,
        help=f"SGD learning rates (default {' '.join(map(str, selu.LEARNING_RATES))})",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        selu,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        depth=args.depth,
        width=args.width,
        draws=args.draws,
        probe_layer=args.probe_layer,
        train_depth=args.train_depth,
        epochs=args.epochs,
        learning_rates=args.learning_rates,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "selu")
