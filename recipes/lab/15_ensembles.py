"""Lesson 15: ensembles -- seeded nets, a snapshot ensemble, EMA and SWA; dropout ~ ensemble (MNIST-1D).

    python recipes/lab/15_ensembles.py --out runs/lab           # ~3 minutes on 2 CPU cores
    python recipes/lab/15_ensembles.py --members 8 --mc-samples 200

Writes ensembles.png (test error against ensemble size, with the snapshot ensemble, EMA and SWA;
a dropout MLP's test error by weight scaling and by the mean of K sampled sub-networks) and
ensembles.json.
"""

from __future__ import annotations

from kzoo.lab import ensembles
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("ensembles", __doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=None, help="seeded networks (default 5)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every run (20)")
    parser.add_argument(
        "--snapshots",
        type=int,
        default=None,
        help="cosine cycles of the snapshot run (default 4; divides --epochs)",
    )
    parser.add_argument("--dropout", type=float, default=0.2, help="the dropout MLP's rate")
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=None,
        help="largest number of sampled sub-networks (default 100)",
    )
    args = parser.parse_args(argv)
    result = run_over_seeds(
        ensembles,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        members=args.members,
        epochs=args.epochs,
        snapshots=args.snapshots,
        dropout=args.dropout,
        mc_samples=args.mc_samples,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "ensembles")
