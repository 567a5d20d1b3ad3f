"""Lesson 11: the case studies under one budget -- accuracy against multiply-adds and parameters.

    python recipes/lab/11_architectures.py --out runs/lab          # about 100 s on 2 cores, 3 seeds
    python recipes/lab/11_architectures.py --smoke                 # 3 members, 512 digits, 2 epochs
    python recipes/lab/11_architectures.py --members vgg11 resnet20 mobilenet_v2 --epochs 5

Writes architectures.png (test accuracy against MACs, bubble area ~ parameters; and against
parameters) and architectures.json.
"""

from __future__ import annotations

from kzoo.lab import architectures
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("architectures", __doc__.splitlines()[0])
    parser.add_argument(
        "--members",
        nargs="+",
        default=None,
        help=f"members to train (default {' '.join(architectures.DEFAULT_MEMBERS)}): "
        f"{' '.join(architectures.MEMBERS)}",
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 4)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--batch-size", type=int, default=32, help="minibatch size")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        architectures,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        members=args.members,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "architectures")
