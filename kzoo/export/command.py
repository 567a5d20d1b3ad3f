"""`kzoo export`, `kzoo predict` and `kzoo info <saved_model_dir>`."""

from __future__ import annotations

import os
from pathlib import Path

from kzoo.export.contract import RAW_DTYPES
from kzoo.utils.files import shown_path

TRUST_NOTE = (
    "A SavedModel is a program, not data: loading and calling one runs its TensorFlow graph, which "
    "can read and write files and use the network (TensorFlow is not a sandbox; see its "
    "SECURITY.md). Only predict with or serve SavedModels you trust, e.g. ones you exported "
    "yourself; the checksums in kzoo_metadata.json travel with the files and say nothing about who "
    "made them."
)
INFO_NOTE = (
    "For an exported SavedModel, kzoo info reads only assets.extra/kzoo_metadata.json and checks the "
    "files' sha256 checksums against it, following no link inside the version (links and FIFOs are "
    "reported, not read); it does not load or run the graph. " + TRUST_NOTE
)


def add_commands(sub) -> None:
    """Register `export` and `predict` on the `kzoo` sub-command parser."""
    p = sub.add_parser(
        "export",
        help="export a run directory or .keras file as a versioned SavedModel",
        description="Export a finished run directory (or a .keras file) to <root>/<name>/<version>/ "
        "with a raw-input serving_default signature, verified before it is published.",
    )
    p.add_argument("source", help="a training run directory or a .keras file")
    p.add_argument("--name", required=True, help="model name: letters, digits, '.', '_', '-'")
    p.add_argument("--version", type=int, default=None, help="version number (default: next)")
    p.add_argument("--force", action="store_true", help="replace an existing --version")
    p.add_argument("--root", default="saved_models", help="export root (default: saved_models)")
    p.add_argument(
        "--tflite", action="store_true",
        help="also write a TensorFlow Lite model (assets.extra/model.tflite in the version), "
        "checked against the SavedModel on the probe batch",
    )
    g = p.add_argument_group("for a .keras file (a run directory records these itself)")
    g.add_argument("--mean", type=float, nargs="+", default=None, help="normalisation mean(s)")
    g.add_argument("--std", type=float, nargs="+", default=None, help="normalisation std(s)")
    g.add_argument(
        "--raw-dtype", choices=RAW_DTYPES, default="float32", metavar="DTYPE",
        help="dtype clients send, e.g. uint8 for images (default: float32)",
    )
    g.add_argument(
        "--raw-range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="the raw values the model was trained on, e.g. 0 16 for the UCI digits (kzoo "
        "predict refuses inputs outside them)",
    )
    g.add_argument("--class-names", nargs="+", default=None, metavar="LABEL", help="one label per class")
    g.add_argument("--from-logits", action="store_true", help="the model ends without softmax")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "predict",
        help="classify .npy or image files with an exported SavedModel or a finished run",
        description="Run the serving_default signature of <saved_model_dir> (a version directory, "
        "or a model directory for its latest version), or the final model of a finished run "
        "directory with the run's normalisation, on raw inputs. Inputs must lie in the raw range "
        "the model was trained on (kzoo info shows it, e.g. 0..16 for the UCI digits): others are "
        "refused unless --rescale.",
        epilog="Security: " + TRUST_NOTE,
    )
    p.add_argument("saved_model_dir", metavar="saved_model_or_run_dir")
    p.add_argument("inputs", nargs="+", help="a .npy file (batch or one example) or image files")
    p.add_argument(
        "--rescale", action="store_true",
        help="map each input's own range (0..255 for 8-bit images and uint8 arrays, [0, 1] for "
        "floats within it, else its min..max) linearly onto the range the model was trained on",
    )
    p.add_argument(
        "--resize", action="store_true",
        help="resize images to the model's height and width (otherwise a wrong size is refused)",
    )
    p.add_argument(
        "--tflite", action="store_true",
        help="run the version's TensorFlow Lite model (exported with --tflite; XNNPACK on CPU, "
        "fastest for a few images at a time) instead of its SavedModel",
    )
    p.set_defaults(func=_cmd_predict)


def is_saved_model_path(target: str) -> bool:
    """True if `target` is an exported version directory or a directory of numbered versions."""
    from kzoo.export.paths import resolve_saved_model_dir

    try:
        resolve_saved_model_dir(target)
    except (FileNotFoundError, OSError):
        return False
    return True


def _cmd_export(args) -> int:
    from kzoo.export.paths import check_export_target

    # Refuse a link or a taken version before loading anything (export_saved_model checks again).
    check_export_target(args.root, args.name, args.version, args.force)
    from kzoo.export.metadata import read_metadata

    source = Path(args.source)
    common = {"root": args.root, "version": args.version, "force": args.force, "tflite": args.tflite}
    if source.suffix == ".keras" and os.path.lexists(source):
        from kzoo.models.keras_files import load_keras

        model = load_keras(source, compile=False)  # a refused file never imports the exporter
        from kzoo.export.saved_model import export_saved_model

        path = export_saved_model(
            model,
            args.name,
            mean=args.mean,
            std=args.std,
            raw_dtype=args.raw_dtype,
            raw_range=args.raw_range,
            class_names=args.class_names,
            from_logits=args.from_logits,
            metadata={"source": str(source)},
            **common,
        )
        if args.mean is None and args.std is None:
            print("note: no --mean/--std given: the signature feeds inputs to the model unchanged")
    elif source.is_dir():
        from kzoo.export.from_run import export_run

        path = export_run(source, args.name, **common)
    else:
        raise FileNotFoundError(
            f"source={str(source)!r} is neither a run directory nor an existing .keras file."
        )
    meta = read_metadata(path)
    check = meta["verification"]
    print(
        f"exported {shown_path(path)} (verified on {check['probe_size']} probe inputs, max |difference| "
        f"{check['max_abs_diff']:.3g})"
    )
    if meta.get("tflite"):
        print(_tflite_line(path, meta["tflite"]))
    return 0


def _tflite_line(version_dir, check: dict) -> str:
    head = f"tflite: {Path(version_dir) / check['file']} ({check['bytes']:,} bytes; "
    if "vs_saved_model" not in check:
        return head + (f"max |difference| from the SavedModel {check['max_abs_diff']:.3g} on "
                       f"{check['probe_size']} probe inputs)")
    vs = check["vs_saved_model"]
    return head + (
        f"float32, converted from the float32 twin of the {check['saved_model_compute_dtype']} "
        f"model, max |difference| from the twin {check['max_abs_diff']:.3g}; from the published "
        f"SavedModel {vs['max_abs_diff']:.3g}, same class on "
        f"{100 * vs['class_id_agreement']:.0f}% of {check['probe_size']} probe inputs)"
    )


def _cmd_predict(args) -> int:
    import sys

    from kzoo.export.predict import describe_predictions, format_notes, read_input_files

    # The inputs' headers are checked against the input spec (the metadata's, or the run's
    # normalization.json) before TensorFlow starts; then the inputs are read, checked against the
    # range the model was trained on and converted, all before the model is loaded.
    target = Path(args.saved_model_dir)
    is_run = (target / "config.json").is_file() and not is_saved_model_path(args.saved_model_dir)
    if args.tflite and is_run:
        from kzoo.utils.errors import UserError

        raise UserError(
            f"--tflite runs an exported version's TFLite model; received the run directory "
            f"{str(target)!r} (export it first: kzoo export {target} --name NAME --tflite)"
        )
    lite = None
    if args.tflite:
        from kzoo.export.tflite_model import tflite_version

        lite = tflite_version(args.saved_model_dir)  # file checked before any input is read
    spec = _run_spec(target) if is_run else _saved_model_spec(args.saved_model_dir)
    model = None
    if spec is None:  # no kzoo metadata: the loaded signature says what it takes
        model = _load_for_predict(target, is_run)
        spec = model.input_spec
    files = dict(resize=args.resize, any_dtype=spec.range is not None)
    read_input_files(args.inputs, spec.shape, spec.dtype, headers_only=True, **files)
    from kzoo.export.loaded_model import prepare

    notes: list = []
    batches = [
        (label, prepare(batch, spec, label, rescale=args.rescale, notes=notes))
        for label, batch in read_input_files(args.inputs, spec.shape, spec.dtype, notes=notes,
                                             **files)
    ]
    if args.tflite:
        from kzoo.export.tflite_model import TFLiteServedModel

        model = TFLiteServedModel(args.saved_model_dir, checked=lite)
    model = model or _load_for_predict(target, is_run)
    for line in format_notes(notes):
        print(line, file=sys.stderr)
    for label, batch in batches:
        for line in describe_predictions(label, model.predict(batch, label), model.class_names):
            print(line)
    return 0


def _load_for_predict(target: Path, is_run: bool):
    if is_run:
        from kzoo.export.run_model import RunModel

        return RunModel(target)
    from kzoo.export.loaded_model import load_saved_model

    return load_saved_model(target)


def _saved_model_spec(path):
    """The input spec of an export's metadata (no TensorFlow), or None without kzoo metadata."""
    from kzoo.export.input_range import InputSpec
    from kzoo.export.metadata import read_metadata
    from kzoo.export.paths import resolve_saved_model_dir

    meta = read_metadata(resolve_saved_model_dir(path))
    if meta is None or meta["signature"]["input"]["dtype"] not in RAW_DTYPES:
        return None
    return InputSpec.from_json(meta["signature"]["input"])


def _run_spec(run_dir: Path):
    from kzoo.export.run_model import input_spec_of_run

    return input_spec_of_run(run_dir)


def describe_saved_model(path) -> list[str]:
    """What `kzoo info <saved_model_dir>` prints: identity, signature, classes, checks."""
    from kzoo.export.metadata import read_metadata, verify_checksums
    from kzoo.export.paths import list_versions, resolve_saved_model_dir

    version_dir = resolve_saved_model_dir(path)
    meta = read_metadata(version_dir)
    lines = [f"saved model: {version_dir}"]
    if meta is None:
        return lines + ["no kzoo metadata (not exported by kzoo)"]
    sig = meta["signature"]
    norm = sig["normalization"]
    model = meta.get("model", {})
    builder = model.get("builder") or {}
    params = model.get("trainable_params")
    lines += [
        f"name: {meta['name']}  version: {meta['version']}  "
        f"(published: {', '.join(map(str, list_versions(version_dir.parent))) or '-'})",
        f"created: {meta['created']}",
        f"model: {builder.get('name', model.get('name'))}  trainable params: "
        f"{'?' if params is None else format(params, ',')}",
        f"signature {sig['key']}: {sig['input']['name']} {sig['input']['dtype']} "
        f"{_shape(sig['input']['shape'])} -> "
        + ", ".join(f"{k} {v['dtype']} {_shape(v['shape'])}" for k, v in sig["outputs"].items()),
        _input_line(sig["input"]),
        f"normalisation: {norm['formula']}, mean={_short(norm['mean'])}, std={_short(norm['std'])}",
        f"classes ({len(meta['classes'])}): {', '.join(meta['classes'])}",
    ]
    if meta.get("metrics"):
        lines.append("metrics: " + ", ".join(f"{k}={v}" for k, v in meta["metrics"].items()))
    check = meta["verification"]
    lines.append(
        f"verified at export: max |difference| {check['max_abs_diff']:.3g} on "
        f"{check['probe_size']} probe inputs"
    )
    if meta.get("tflite"):
        lines.append(_tflite_line(version_dir, meta["tflite"]))
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    problems = verify_checksums(version_dir, meta)
    lines.append(
        f"checksums: {len(meta['files'])} files OK"
        if not problems
        else "checksums: MISMATCH -- " + "; ".join(_short_list(problems))
    )
    return lines


def _input_line(spec: dict) -> str:
    """What `kzoo predict` accepts: the raw dtype and the range of the training split."""
    from kzoo.export.input_range import show_range

    if spec.get("range") is None:
        return (f"input values: {spec['dtype']}, range not recorded (exported without it): check "
                "inputs against the training data yourself")
    return (f"input values: {spec['dtype']} in {show_range(spec['range'])}, the raw range of the "
            "training split (kzoo predict refuses others; --rescale maps them)")


def _short_list(items: list[str], limit: int = 20) -> list[str]:
    return items if len(items) <= limit else [*items[:limit], f"... {len(items) - limit} more"]


def info_for_path(path) -> int:
    """`kzoo info PATH`: an exported SavedModel (version or model directory) or a run directory."""
    from kzoo.utils.errors import UserError

    target = Path(path)
    if not target.exists():
        raise UserError(f"no such file or directory: {path!r}")
    if is_saved_model_path(path):
        return run_info(path)
    if (target / "config.json").is_file():
        print("\n".join(describe_run_dir(target)))
        return 0
    raise UserError(
        f"{path!r} is neither an exported SavedModel (<root>/<name>/<version>/saved_model.pb) nor "
        "a kzoo run directory (with config.json)"
    )


def describe_run_dir(run_dir: Path) -> list[str]:
    """What `kzoo info <run_dir>` prints: the run's model, data, progress and results."""
    from kzoo.utils.files import read_json

    saved = read_json(run_dir / "config.json", default={}) or {}
    config = saved.get("config", {}) if isinstance(saved, dict) else {}
    metrics = read_json(run_dir / "metrics.json", default=None)
    done = read_json(run_dir / "checkpoint" / "training_metadata.json", default={}) or {}
    norm = read_json(run_dir / "normalization.json", default=None)
    lines = [
        f"run directory: {run_dir}",
        f"model: {config.get('model')}  dataset: {config.get('dataset')}  "
        f"fingerprint: {str(saved.get('fingerprint', '?'))[:12]}",
        f"training: {config.get('optimizer')} lr {config.get('learning_rate')}, "
        f"{config.get('schedule')} schedule, {config.get('epochs')} epochs, batch "
        f"{config.get('batch_size')}",
    ]
    if isinstance(norm, dict) and isinstance(norm.get("raw_dtype"), str):
        shape = norm.get("input_shape")
        lines.append(_input_line({
            "dtype": f"{norm['raw_dtype']}{'' if shape is None else ' ' + _shape(shape)}",
            "range": _valid_range(norm.get("raw_range")),
        }).replace("exported without it", "trained before kzoo recorded it"))
    if isinstance(metrics, dict):
        lines.append(
            f"finished: {metrics.get('epochs_run')} epochs, test accuracy "
            f"{metrics.get('test_accuracy', float('nan')):.4f}, test loss "
            f"{metrics.get('test_loss', float('nan')):.4f}"
        )
    else:
        lines.append(
            f"not finished: {int(done.get('epoch', 0))} of {config.get('epochs')} epochs done "
            "(rerun its command to resume)"
        )
    return lines


def _valid_range(value):
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return value if ok else None


def run_info(path) -> int:
    """`kzoo info <saved_model_dir>`; exit status 1 if the files do not match their checksums."""
    lines = describe_saved_model(path)
    print("\n".join(lines))
    return 1 if lines[-1].startswith("checksums: MISMATCH") else 0


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _short(values, limit: int = 6) -> str:
    flat = values if isinstance(values, list) else [values]
    if len(flat) > limit or any(isinstance(v, list) for v in flat):
        return f"<{len(flat)} values>"
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + "]"

