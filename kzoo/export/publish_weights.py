"""`kzoo publish RUN --tag T`: a finished run's weights and their model card, in a folder to host.

    <out>/<model>-<tag>.weights.h5   the network's weights (Keras' layout; float16 by default)
    <out>/<model>-<tag>.json         the card: model, tag, file, sha256, size, dataset, builder
                                     arguments, metrics measured on the published weights, the
                                     `kzoo train` command that reproduces the run, its settings,
                                     the library versions

Anyone can put the folder on a web server; users then register the card
(`kzoo.models.weights_registry.register_weights_card(card, base_url)`) and build the model with
`create_model(model, weights=tag)`, which fetches the file once into Keras' cache and refuses it
unless its sha256 is the card's. The metrics are measured again on the published file (float16
rounding included) on the run's own test split, so a card never quotes numbers of other bytes.
"""

from __future__ import annotations

import re
from pathlib import Path

from kzoo.utils.errors import UserError

DTYPES = ("float16", "float32")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def publish_weights(run_dir, tag: str, *, out="published", dtype: str = "float16",
                    force: bool = False) -> tuple[Path, Path]:
    """Write `<out>/<model>-<tag>.weights.h5` and its card `<out>/<model>-<tag>.json`.

    Args:
        run_dir: a finished run directory (`kzoo train`'s).
        tag: the weights' name for the model (letters, digits, '.', '_', '-').
        out: the folder to publish into (created if needed).
        dtype: "float16" (half the size; the card's metrics are measured on it) or "float32".
        force: replace a published file of the same name.

    Returns:
        `(weights_path, card_path)`.

    Example:
        >>> publish_weights("runs/train/resnet20-digits_0to4", "digits_0to4", out="published")
    """
    from kzoo.export.from_run import (
        RUN_FILES,
        _builder_kwargs,
        _check_metrics,
        _read,
        refuse_linked_run_files,
    )
    from kzoo.models.weights_registry import CARD_FORMAT
    from kzoo.utils.files import atomic_save, atomic_write_json
    from kzoo.utils.locks import folder_lock

    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise UserError(f"--tag must be letters, digits, '.', '_', '-'; received {tag!r}")
    if dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}; received {dtype!r}")
    run_dir = Path(run_dir)
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        raise UserError(f"{str(run_dir)!r} is not a finished kzoo run: missing {', '.join(missing)}")
    refuse_linked_run_files(run_dir)
    saved = _read(run_dir / "config.json")
    config = saved.get("config")
    norm = _read(run_dir / "normalization.json")
    run_metrics = _check_metrics(_read(run_dir / "metrics.json"), run_dir / "metrics.json")
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise UserError(f"{str(run_dir / 'config.json')!r} names no model")
    from kzoo.training.cli_args import train_command
    from kzoo.training.config import TrainConfig

    train_config = TrainConfig.from_dict(config)
    name = f"{train_config.model}-{tag}"
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {str(out)!r} cannot be a folder to publish into "
                        f"({err.strerror or err})") from None
    weights_path, card_path = out / f"{name}.weights.h5", out / f"{name}.json"
    with folder_lock(out, what="publish folder"):
        for path in (weights_path, card_path):
            if path.exists() and not force:
                raise UserError(f"{str(path)!r} already exists; pass --force to replace it")
        from kzoo.export.metadata import library_versions, sha256_file, utc_now
        from kzoo.models.keras_files import load_keras
        from kzoo.models.weights_h5 import write_weights_file

        model = load_keras(run_dir / "model.keras", compile=False)
        atomic_save(weights_path, lambda tmp: write_weights_file(model, tmp, dtype=dtype))
        builder = {"name": train_config.model, "kwargs": _builder_kwargs(config, norm)}
        card = {
            "format": CARD_FORMAT,
            "format_version": 1,
            "model": train_config.model,
            "tag": tag,
            "file": weights_path.name,
            "sha256": sha256_file(weights_path),
            "bytes": weights_path.stat().st_size,
            "dtype": dtype,
            "dataset": train_config.dataset,
            "builder": builder,
            "metrics": {
                **measure(weights_path, builder, train_config),
                "run_test_accuracy": run_metrics["test_accuracy"],
                "trainable_params": run_metrics.get("trainable_params"),
                "epochs": run_metrics.get("epochs_run"),
            },
            "command": train_command(train_config),
            "fingerprint": saved.get("fingerprint"),
            "config": config,
            "versions": library_versions(),
            "created": utc_now(),
        }
        atomic_write_json(card_path, card)
    return weights_path, card_path


def measure(weights_path, builder: dict, config) -> dict:
    """Test accuracy and cross-entropy of the weights in `weights_path` on the run's test split,
    normalised as in training (the same seed and validation split give the same statistics)."""
    import numpy as np

    import kzoo.data
    from kzoo.registry import create_model

    kwargs = dict(builder["kwargs"])
    if isinstance(kwargs.get("input_shape"), list):
        kwargs["input_shape"] = tuple(kwargs["input_shape"])
    model = create_model(builder["name"], weights=str(weights_path), **kwargs)
    bundle = kzoo.data.load(config.dataset, batch_size=256, validation_split=config.validation_split,
                            seed=config.seed, data_dir=config.data_dir, manual_dir=config.manual_dir)
    probabilities, labels = [], []
    for x, y in bundle.test:
        probabilities.append(np.asarray(model(x, training=False), dtype="float64"))
        labels.append(np.asarray(y))
    p, y = np.concatenate(probabilities), np.concatenate(labels).astype(int)
    picked = np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)
    return {"test_accuracy": float(np.mean(p.argmax(-1) == y)),
            "test_cross_entropy": float(-np.mean(np.log(picked))),
            "test_examples": int(len(y))}


def add_parser(sub) -> None:
    """Add `kzoo publish` to the `kzoo` command's subparsers."""
    p = sub.add_parser(
        "publish", help="a finished run's weights and model card, in a folder to host",
        description="Write <out>/<model>-<tag>.weights.h5 and its model card <model>-<tag>.json "
        "(sha256, dataset, builder arguments, metrics measured on the published weights, the "
        "kzoo train command, library versions).",
    )
    p.add_argument("run_dir", metavar="RUN", help="a finished run directory")
    p.add_argument("--tag", required=True, help="the weights' name, e.g. digits or cifar10_gpu")
    p.add_argument("--out", default="published", help="folder to publish into [published]")
    p.add_argument("--dtype", default="float16", choices=DTYPES,
                   help="stored precision [float16: half the size; metrics measured on it]")
    p.add_argument("--force", action="store_true", help="replace a published file of that name")
    p.set_defaults(func=_cmd_publish)


def _cmd_publish(args) -> int:
    weights, card = publish_weights(args.run_dir, args.tag, out=args.out, dtype=args.dtype,
                                    force=args.force)
    from kzoo.utils.files import read_json

    data = read_json(card)
    print(f"published {weights} ({data['bytes']:,} bytes, sha256 {data['sha256']})")
    print(f"card {card}: test accuracy {data['metrics']['test_accuracy']:.4f} on "
          f"{data['dataset']} ({data['metrics']['test_examples']} test examples; the run's own: "
          f"{data['metrics']['run_test_accuracy']:.4f})")
    return 0
