"""`kzoo bench`: training and serving throughput of kzoo's default path vs plain Keras and PyTorch."""

from __future__ import annotations

import argparse
import sys

from kzoo.bench.config import FRAMEWORKS, MODELS, BenchConfig, tiny


def _list_arg(valid, flag):
    def parse(text):
        items = tuple(t.strip() for t in text.split(",") if t.strip())
        bad = [t for t in items if t not in valid]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"{flag} must be comma-separated names from {', '.join(valid)}; received {text!r}"
            )
        return items

    return parse


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
    parser.add_argument("--models", type=_list_arg(MODELS, "--models"), default=None,
                        help=f"comma-separated, from {', '.join(MODELS)} (default: all)")
    parser.add_argument("--frameworks", type=_list_arg(FRAMEWORKS, "--frameworks"), default=None,
                        help="comma-separated from kzoo,keras,torch (default: all; kzoo is required)")
    parser.add_argument("--batch", type=int, default=None, help="training batch (default 128)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per round and configuration (default: up to 20)")
    parser.add_argument("--round-seconds", type=float, default=None,
                        help="cut a model's steps so its slowest round takes about this long "
                        "(default 6; 0 = always --steps)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per model (default 3)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating rounds (default 3)")
    parser.add_argument("--serving-batch", type=int, default=None, help="serving throughput batch (default 256)")
    parser.add_argument("--latency-calls", type=int, default=None, help="batch-1 calls per round (default 20)")
    parser.add_argument("--throughput-calls", type=int, default=None,
                        help="serving-batch calls per round (default 4)")
    parser.add_argument("--no-serving", action="store_true", help="skip the serving measurements")
    parser.add_argument("--ablations", action="store_true",
                        help="also time kzoo's path with float32 and without op determinism")
    parser.add_argument("--profile", action="store_true",
                        help="also trace kzoo's training steps with TensorFlow's profiler and "
                        "report self time by op type (needs the [profile] extra for the summary)")
    parser.add_argument("--profile-steps", type=int, default=None,
                        help="steps traced per model with --profile (default 5)")
    parser.add_argument("--out", default=None, help="output directory (default: bench_results)")
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long run of every phase at toy sizes (tests; not a measurement)")
    parser.set_defaults(func=run)
    return parser


def config_from_args(args) -> BenchConfig:
    overrides = {
        "models": args.models,
        "frameworks": args.frameworks,
        "batch": args.batch,
        "steps": args.steps,
        "round_seconds": args.round_seconds,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "serving_batch": args.serving_batch,
        "latency_calls": args.latency_calls,
        "throughput_calls": args.throughput_calls,
        "profile_steps": args.profile_steps,
        "out_dir": args.out,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("round_seconds") == 0:
        overrides["round_seconds"] = None
    if args.no_serving:
        overrides["serving"] = False
    if args.ablations:
        overrides["ablations"] = True
    if args.profile:
        overrides["profile"] = True
    config = tiny(**overrides) if args.tiny else BenchConfig(**overrides)
    return config.validate()


def run(args) -> int:
    from kzoo.bench.report import format_markdown, write_results
    from kzoo.bench.runner import run_bench

    try:
        config = config_from_args(args)
    except ValueError as err:
        print(f"kzoo bench: error: {err}", file=sys.stderr)
        return 2
    results = run_bench(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    json_path, md_path = write_results(results, config.out_dir)
    print(format_markdown(results))
    print(f"Wrote {json_path} and {md_path}.", file=sys.stderr)
    return 0
