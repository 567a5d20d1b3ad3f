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
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kzoo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default=None, help="fnmatch pattern, e.g. 'wrn*'")
    p.set_defaults(func=_cmd_list)
    from kzoo.tuning.command import add_parser as add_tune_parser

    add_tune_parser(sub)
    from kzoo.export.commands import add_commands as add_export_commands

    add_export_commands(sub)
    from kzoo.data.command import add_parser as add_datasets_parser

    add_datasets_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
