"""Lesson 13: data preprocessing -- raw vs centred vs standardised vs PCA vs ZCA-whitened inputs.

    python recipes/lab/13_whitening.py --out runs/lab     # about 35 s on 2 cores over 5 seeds
    python recipes/lab/13_whitening.py --smoke            # breast cancer, rates 1e-2 and 1, 3 epochs

Writes whitening.png (condition numbers; epochs to the training-accuracy target for logistic
regression and an MLP trained by SGD) and whitening.json.
"""

from __future__ import annotations

from kzoo.lab import whitening
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("whitening", __doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="epoch budget (default 30)")
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=None, help="SGD learning rates (default 1e-6 ... 1)"
    )
    parser.add_argument("--datasets", nargs="+", choices=sorted(whitening.DATASETS), default=None)
    args = parser.parse_args(argv)
    result = run_over_seeds(
        whitening,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        epochs=args.epochs,
        learning_rates=args.lrs,
        datasets=args.datasets,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "whitening")
