"""The `kzoo datasets` command: list the catalog, or prepare a dataset ahead of training."""

from __future__ import annotations

import argparse

from kzoo.data.catalog import get_spec, list_datasets


def _describe_augmentation(spec) -> str:
    if not spec.can_augment:
        return "-"
    parts = ([f"pad {spec.pad} + crop"] if spec.pad else []) + (["flip"] if spec.flip else [])
    return " + ".join(parts) + ("" if spec.augment else " (off by default)")


def _cmd_datasets(args) -> int:
    if args.prepare is None:
        print("| name | kind | shape | classes | TFDS builder | source | augmentation |")
        print("|---|---|---|---|---|---|---|")
        for name in list_datasets():
            spec = get_spec(name)
            source = "generated offline" if spec.offline else "downloaded by TFDS"
            print(f"| {name} | {spec.kind} | {spec.input_shape} | {spec.num_classes} | "
                  f"{spec.tfds_name} | {source} | {_describe_augmentation(spec)} |")
        return 0
    from kzoo.data.pipeline import load_arrays

    arrays = load_arrays(args.prepare, data_dir=args.data_dir, manual_dir=args.manual_dir)
    print(f"{args.prepare}: {len(arrays['y_train'])} train / {len(arrays['y_test'])} test "
          f"examples of shape {arrays['x_train'].shape[1:]} ({arrays['x_train'].dtype})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `kzoo datasets` to the `kzoo` command's subparsers."""
    p = sub.add_parser("datasets", help="list the datasets, or prepare one (--prepare NAME)")
    p.add_argument("--prepare", metavar="NAME", choices=list_datasets(), default=None,
                   help="generate or download NAME into the TFDS data directory")
    p.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS' own)")
    p.add_argument("--manual-dir", default=None, help="TFDS manual download directory")
    p.set_defaults(func=_cmd_datasets)
