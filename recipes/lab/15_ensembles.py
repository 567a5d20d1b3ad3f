"""Lesson 15: ensembles -- seeded nets, a snapshot ensemble, EMA and SWA; dropout ~ ensemble (MNIST-1D).

    python recipes/lab/15_ensembles.py --out runs/lab     # about 100 s on 2 CPU cores, 3 seeds
    python recipes/lab/15_ensembles.py --members 5 --epochs 20 --snapshots 4 --averaging --dropout 0.2

Writes ensembles.png (every seed's test error against ensemble size, with its members; with
--snapshots its snapshot ensemble; with --dropout a dropout MLP's test error by weight scaling and
by the mean of K sampled sub-networks), ensembles_seeds.png and ensembles.json; each seed's own
figure (with EMA and SWA when --averaging) under seeds/ensembles/. The second line, the full
lesson, takes about 170 s a seed.
"""

from __future__ import annotations

from kzoo.lab import ensembles
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.lab._seeds import run_over_seeds


def main(argv=None):
    parser = lesson_parser("ensembles", __doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=None, help="seeded networks (default 3)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every run (6)")
    parser.add_argument(
        "--snapshots",
        type=int,
        default=None,
        help="cosine cycles of the snapshot run (default 0: none; else at least 2, dividing --epochs)",
    )
    parser.add_argument("--dropout", type=float, default=None,
                        help="also train a 2x256 MLP with this dropout rate (e.g. 0.2) and compare "
                        "weight scaling with Monte-Carlo dropout (one more run per seed)")
    parser.add_argument(
        "--mc-samples",
        type=int,
        default=None,
        help="largest number of sampled sub-networks (default 100)",
    )
    parser.add_argument("--averaging", action="store_true",
                        help="also train the EMA and SWA runs (two more runs per seed)")
    args = parser.parse_args(argv)
    result = run_over_seeds(
        ensembles,
        args.out,
        seeds=args.seeds,
        smoke=args.smoke,
        workers=args.workers,
        members=args.members,
        epochs=args.epochs,
        snapshots=args.snapshots,
        dropout_rate=args.dropout,
        mc_samples=args.mc_samples,
        averaging=args.averaging,
    )
    print(result["conclusion"])
    print(f"{result['verdict']}  ->  {' '.join(result['figures'])}")
    return result


if __name__ == "__main__":
    main_entry(main, "ensembles")
