"""Lesson 9: dropout, weight decay, early stopping and augmentation on a small MNIST-1D subset.

    python recipes/lab/09_regularization.py --out runs/lab   # about 80 s on 2 cores over 3 seeds
    python recipes/lab/09_regularization.py --train-size 500 --dropout 0.3

Writes regularization.png (train / validation / test accuracy and the cross-entropy gap per method;
where early stopping stops on the unregularised run's curves) and regularization.json.
"""

from __future__ import annotations

from kzoo.lab import regularization
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("regularization", __doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist1d", choices=regularization.DATASETS)
    parser.add_argument("--train-size", type=int, default=None, help="training subset (1000)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 40)")
    parser.add_argument("--dropout", type=float, default=0.5, help="dropout rate")
    parser.add_argument("--weight-decay", type=float, default=1e-2, help="L2 lambda on kernels")
    parser.add_argument("--patience", type=int, default=10, help="early-stopping patience")
    parser.add_argument("--shift", type=float, default=0.1, help="largest random shift (fraction)")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        regularization,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        dataset=args.dataset,
        train_size=args.train_size,
        epochs=args.epochs,
        dropout=args.dropout,
        weight_decay=args.weight_decay,
        patience=args.patience,
        shift=args.shift,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "regularization")
