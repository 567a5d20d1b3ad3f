"""`kzoo bench`: training and serving throughput of kzoo's default path vs plain Keras and PyTorch."""

from __future__ import annotations

import argparse
import sys

from kzoo.bench.config import BenchConfig, tiny
from kzoo.utils.settings import add_arguments, given


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the `bench` subcommand to the `kzoo` command's subparsers."""
    parser = sub.add_parser(
        "bench",
        help="benchmark kzoo's default training and serving against plain Keras and PyTorch",
        description="Time kzoo's default training path, plain Keras model.fit and PyTorch "
        "(channels_last fp32 and bf16 autocast) on the same architectures, alternating round by "
        "round, plus SavedModel serving, matmul peak and peak memory. Writes bench.json and "
        "bench.md into --out.",
    )
    add_arguments(parser, BenchConfig)
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long run of every phase at toy sizes (tests; not a measurement)")
    parser.set_defaults(func=run)
    return parser


def config_from_args(args) -> BenchConfig:
    overrides = given(args, BenchConfig)
    config = tiny(**overrides) if args.tiny else BenchConfig(**overrides)
    return config.validate()


def run(args) -> int:
    config = config_from_args(args)
    from kzoo.bench.report import format_markdown, write_results
    from kzoo.bench.runner import run_bench

    results = run_bench(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    json_path, md_path = write_results(results, config.out_dir)
    print(format_markdown(results))
    print(f"Wrote {json_path} and {md_path}.", file=sys.stderr)
    return 0
