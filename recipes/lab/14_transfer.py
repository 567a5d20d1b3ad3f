"""Lesson 14: transfer learning -- pretrained features learn a new task from a handful of examples.

    python recipes/lab/14_transfer.py --out runs/lab     # about 80 s on 2 CPU cores, 3 seeds
    python recipes/lab/14_transfer.py --examples 5 15 50 --repeats 2

Writes transfer.png (test accuracy on MNIST-1D's digits 5-9 against training examples per class:
from scratch, frozen pretrained features, fine-tuned; mean and min-max band over the seeds),
transfer_seeds.png and transfer.json.
"""

from __future__ import annotations

from kzoo.lab import transfer
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("transfer", __doc__.splitlines()[0])
    parser.add_argument(
        "--examples",
        type=int,
        nargs="+",
        default=None,
        help="training examples per class of digits 5-9 (default 5 50)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="draws per size and seed (default 1)")
    parser.add_argument("--steps", type=int, default=None, help="Adam steps per training (120)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument(
        "--backbone-lr-mult",
        type=float,
        default=0.3,
        help="the fine-tuned backbone's rate relative to --lr",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        transfer,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        examples=args.examples,
        repeats=args.repeats,
        steps=args.steps,
        learning_rate=args.lr,
        backbone_lr_multiplier=args.backbone_lr_mult,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "transfer")
