"""The `kzoo` command line."""

from __future__ import annotations

import argparse
import sys


def _cmd_list(args) -> int:
    from kzoo.registry import list_models

    names = list_models(args.pattern)
    for name in names:
        print(name)
    if not names:
        print(f"no registered model matches {args.pattern!r}" if args.pattern else "no models")
        return 1
    return 0


def _shape_arg(text):
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--input-shape must be comma-separated integers such as 32,32,3; received {text!r}"
        ) from err


def _cmd_info(args) -> int:
    from kzoo.export.commands import is_saved_model_path, run_info

    if is_saved_model_path(args.name):
        return run_info(args.name)
    from kzoo.info import format_info, model_info

    kwargs = {}
    if args.classes is not None:
        kwargs["classes"] = args.classes
    if args.input_shape is not None:
        kwargs["input_shape"] = args.input_shape
    try:
        info = model_info(args.name, **kwargs)
    except ValueError as err:
        print(f"kzoo info: error: {err}", file=sys.stderr)
        return 2
    print(format_info(info))
    return 0


def _cmd_table(args) -> int:
    from kzoo.model_table import model_table

    try:
        table = model_table(args.pattern, progress=not args.no_progress)
    except ValueError as err:
        print(f"kzoo table: error: {err}", file=sys.stderr)
        return 2
    if args.output:
        from kzoo.training.rundir import atomic_write_text

        atomic_write_text(args.output, table + "\n")
    else:
        print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kzoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'wrn*'")
    p.set_defaults(func=_cmd_list)
    from kzoo.export.commands import INFO_NOTE

    p = sub.add_parser(
        "info",
        help="parameters, MACs, shapes and published results of a model",
        description="Describe a registered model (parameters, MACs, shapes, published results) or "
        "an exported SavedModel directory (signature, classes, metrics, checksums).",
        epilog="Security: " + INFO_NOTE,
    )
    p.add_argument("name", help="a registered model name, e.g. resnet20, or an exported SavedModel directory")
    p.add_argument("--classes", type=int, default=None, help="head classes (default 10; 1000 for ImageNet models)")
    p.add_argument("--input-shape", type=_shape_arg, default=None, help="e.g. 32,32,3 or 40,1")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("table", help="Markdown table of the registered models (params, MACs, papers)")
    p.add_argument("--pattern", default=None, help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--output", default=None, help="write the table to this file instead of stdout")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_table)
    from kzoo.tuning.command import add_parser as add_tune_parser

    add_tune_parser(sub)
    from kzoo.export.commands import add_commands as add_export_commands

    add_export_commands(sub)
    from kzoo.data.command import add_parser as add_datasets_parser

    add_datasets_parser(sub)
    from kzoo.training.command import add_parser as add_train_parser

    add_train_parser(sub)
    from kzoo.training.launch import add_parser as add_launch_parser

    add_launch_parser(sub)
    from kzoo.bench.command import add_parser as add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
