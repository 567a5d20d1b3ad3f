"""The `kzoo` command line.

Every subcommand follows `kzoo.utils.cli`'s contract: a mistake is one line and exit status 2,
Ctrl-C one line and 130, `--debug` (or KZOO_DEBUG=1) shows tracebacks. Building the parser imports
no TensorFlow: `kzoo --help`, `kzoo list` and `kzoo datasets` start in well under a second.
"""

from __future__ import annotations

import argparse
import os
import sys

from kzoo.utils.cli import ArgumentParser, add_debug_flag, run


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
        shape = tuple(int(d) for d in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers such as 32,32,3; received {text!r}"
        )
    return shape


def looks_like_path(text: str) -> bool:
    """A command-line word meant as a path: it exists, or has a separator or a leading dot."""
    return os.path.exists(text) or os.sep in text or "/" in text or text.startswith(".")


def _cmd_info(args) -> int:
    if looks_like_path(args.name):
        from kzoo.export.command import info_for_path

        return info_for_path(args.name)
    from kzoo.registry import get_entry

    get_entry(args.name)  # an unknown name is refused before TensorFlow loads
    from kzoo.info import format_info, model_info

    kwargs = {}
    if args.classes is not None:
        kwargs["classes"] = args.classes
    if args.input_shape is not None:
        kwargs["input_shape"] = args.input_shape
    print(format_info(model_info(args.name, **kwargs)))
    return 0


def _cmd_table(args) -> int:
    from kzoo.model_table import model_rows, model_table

    rows = model_rows(args.pattern, progress=not args.no_progress)  # every model built once
    table = model_table(rows=rows)
    if args.plot:
        from kzoo.charts.cost_accuracy import write_cost_accuracy_chart

        print(f"chart: {write_cost_accuracy_chart(args.plot, rows)}", file=sys.stderr)
    if args.output:
        from kzoo.utils.files import atomic_write_text

        atomic_write_text(args.output, table + "\n")
    else:
        print(table)
    return 0


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="kzoo", description=__doc__.split("\n\n")[0])
    add_debug_flag(parser)
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'wrn*'")
    p.set_defaults(func=_cmd_list)
    from kzoo.export.command import INFO_NOTE

    p = sub.add_parser(
        "info",
        help="parameters, MACs, shapes and published results of a model",
        description="Describe a registered model (parameters, MACs, shapes, published results), "
        "an exported SavedModel directory (signature, classes, input range, metrics, checksums) "
        "or a run directory.",
        epilog="Security: " + INFO_NOTE,
    )
    p.add_argument(
        "name", help="a registered model name (e.g. resnet20), an exported SavedModel directory, "
        "or a run directory"
    )
    p.add_argument("--classes", type=int, default=None, help="head classes (default 10; 1000 for ImageNet models)")
    p.add_argument("--input-shape", type=_shape_arg, default=None, help="e.g. 32,32,3 or 40,1")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("table", help="Markdown table of the registered models (params, MACs, papers)")
    p.add_argument("--pattern", default=None, help="fnmatch pattern, e.g. 'resnet*'")
    p.add_argument("--output", default=None, help="write the table to this file instead of stdout")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="also draw the accuracy-versus-cost chart (published error against MACs, "
                   "bubble area ~ parameters) into this PNG")
    p.set_defaults(func=_cmd_table)
    from kzoo.tuning.command import add_parser as add_tune_parser

    add_tune_parser(sub)
    from kzoo.export.command import add_commands as add_export_commands

    add_export_commands(sub)
    from kzoo.data.command import add_parser as add_datasets_parser

    add_datasets_parser(sub)
    from kzoo.training.command import add_parser as add_train_parser

    add_train_parser(sub)
    from kzoo.export.ensemble import add_parser as add_ensemble_parser

    add_ensemble_parser(sub)
    from kzoo.export.publish_weights import add_parser as add_publish_parser

    add_publish_parser(sub)
    from kzoo.training.finetune import add_parser as add_finetune_parser

    add_finetune_parser(sub)
    from kzoo.training.runs import add_parser as add_runs_parser

    add_runs_parser(sub)
    from kzoo.evaluation import add_parser as add_evaluate_parser

    add_evaluate_parser(sub)
    from kzoo.training.launch import add_parser as add_launch_parser

    add_launch_parser(sub)
    from kzoo.bench.command import add_parser as add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    chosen = parser._chosen_subparser(args)
    return run(chosen.prog if chosen else parser.prog, lambda: args.func(args), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
