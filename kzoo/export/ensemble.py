"""`kzoo ensemble A B C --name ens`: one SavedModel that serves the average of several models.

Each member is an exported SavedModel version (or a finished run directory). Its Keras model is
rebuilt from data only -- the Keras config in its metadata and its variables (`kzoo.models.
saved_model_weights`; a run's `model.keras` through `load_keras`) -- and its own normalisation
becomes a `keras.layers.Normalization` in front of it. The ensemble is one Keras model:

    raw inputs -> [normalise_k -> member_k -> probabilities_k] for each k -> ProbabilityAverage

exported like any kzoo model (`export_saved_model`: one exporter per name, staging, a reload
compared with the in-memory ensemble, atomic publishing, checksums), so `serving_default` takes the
same raw inputs as every member and returns `probabilities` and `class_id`. Members must agree on
the classes (names and order) and the input (shape and raw dtype); otherwise the ensemble is
refused naming the first member that differs. Before exporting, each rebuilt member is compared
with its own SavedModel's signature on the probe batch (this loads the members' graphs: ensemble
only exports you trust, as for `kzoo predict`), and when the members record one dataset, each
member and the ensemble are evaluated on its test split (the metadata keeps the numbers).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kzoo.utils.errors import UserError
from kzoo.utils.files import shown_path

MEANS = ("arithmetic", "geometric")


@dataclass
class Member:
    """One member: its rebuilt model, the raw input it takes, its normalisation and classes."""

    source: str
    model: object
    input_shape: tuple
    raw_dtype: str
    mean: np.ndarray
    std: np.ndarray
    classes: list
    from_logits: bool
    dataset: str | None
    saved_model: Path | None
    label: str
    infer: object = None  # the model as one traced graph, made on first use
    raw_range: tuple | None = None  # the raw values it was trained on, when recorded


def load_member(path) -> Member:
    """Rebuild the member at `path` (a SavedModel version or model directory, or a finished run
    directory) from its files, without running a graph."""
    from kzoo.models.saved_model_weights import (
        is_saved_model_dir,
        load_saved_model_weights,
        version_dir,
    )

    path = Path(path)
    if is_saved_model_dir(path):
        version = version_dir(path)
        model, meta, _ = load_saved_model_weights(version)
        signature = meta.get("signature") or {}
        spec = signature.get("input") or {}
        norm = signature.get("normalization") or {}
        extra = meta.get("extra") or {}
        return Member(
            str(path), model, tuple(spec.get("shape", [None])[1:]), str(spec.get("dtype")),
            np.asarray(norm.get("mean", 0.0), "float32"), np.asarray(norm.get("std", 1.0), "float32"),
            list(meta.get("classes") or []), bool((meta.get("model") or {}).get("from_logits")),
            extra.get("dataset") if isinstance(extra.get("dataset"), str) else None,
            version, f"{meta.get('name', version.parent.name)} v{meta.get('version', version.name)}",
            raw_range=_range(spec.get("range")),
        )
    if (path / "config.json").is_file():
        from kzoo.export.from_run import _check_normalization, _read, refuse_linked_run_files
        from kzoo.models.keras_files import load_keras

        if not (path / "metrics.json").is_file():
            raise UserError(f"{str(path)!r} is not a finished run (no metrics.json)")
        refuse_linked_run_files(path)
        norm = _check_normalization(_read(path / "normalization.json"),
                                    path / "normalization.json")
        model = load_keras(path / "model.keras", compile=False)
        return Member(
            str(path), model, tuple(model.inputs[0].shape[1:]), norm["raw_dtype"],
            np.asarray(norm["mean"], "float32"), np.asarray(norm["std"], "float32"),
            list(norm["class_names"]), False, norm.get("dataset"), None, path.name,
            raw_range=_range(norm.get("raw_range")),
        )
    raise UserError(
        f"{str(path)!r} is neither an exported SavedModel (<root>/<name>[/<version>]) nor a "
        "finished run directory"
    )


def _range(value) -> tuple | None:
    return tuple(value) if isinstance(value, (list, tuple)) and len(value) == 2 else None


def shared_range(members: list[Member]) -> tuple | None:
    """The raw range the members were trained on (those that record one); refused when two
    differ, naming them. The ensemble serves, and is probed with, inputs within it."""
    known = [m for m in members if m.raw_range is not None]
    for m in known[1:]:
        if m.raw_range != known[0].raw_range:
            raise UserError(
                f"members disagree on the input: {known[0].source!r} was trained on values in "
                f"{_span(known[0].raw_range)}, {m.source!r} on {_span(m.raw_range)}"
            )
    return known[0].raw_range if known else None


def _span(value) -> str:
    return f"{value[0]:g}..{value[1]:g}"


def check_members(members: list[Member]) -> None:
    """Refuse members that disagree on the classes or the raw input, naming the first one."""
    if len(members) < 2:
        raise UserError(f"an ensemble needs at least 2 members; received {len(members)}")
    first = members[0]
    for m in members[1:]:
        if m.classes != first.classes:
            raise UserError(
                f"members disagree on the classes: {first.source!r} has {len(first.classes)} "
                f"({_short(first.classes)}), {m.source!r} has {len(m.classes)} "
                f"({_short(m.classes)})"
            )
        if m.input_shape != first.input_shape or m.raw_dtype != first.raw_dtype:
            raise UserError(
                f"members disagree on the input: {first.source!r} takes {first.raw_dtype} "
                f"{first.input_shape}, {m.source!r} takes {m.raw_dtype} {m.input_shape}"
            )
    shared_range(members)
    seen = {}
    for m in members:
        key = os.path.realpath(m.saved_model if m.saved_model is not None else m.source)
        if key in seen:
            raise UserError(
                f"{m.source!r} and {seen[key]!r} are the same model ({m.label}); an ensemble of "
                "distinct members weights them with --weights, not by repeating one"
            )
        seen[key] = m.source


def build_ensemble(members: list[Member], mean: str = "arithmetic", weights=None):
    """The ensemble as one Keras model taking raw inputs (as float32)."""
    import keras

    from kzoo.layers import ProbabilityAverage

    if mean not in MEANS:
        raise UserError(f"--mean must be one of {', '.join(MEANS)}; received {mean!r}")
    if weights is not None and len(weights) != len(members):
        raise UserError(f"--weights gives {len(weights)} weights for {len(members)} members")
    shape = members[0].input_shape
    inputs = keras.Input(shape=shape, dtype="float32", name="inputs")
    outputs = []
    for i, m in enumerate(members):
        full = tuple(shape)
        normalize = keras.layers.Normalization(
            axis=tuple(range(1, len(full) + 1)), mean=np.broadcast_to(m.mean, full),
            variance=np.broadcast_to(m.std, full) ** 2, dtype="float32", name=f"normalize_{i}",
        )
        member = keras.Model(m.model.inputs[0], m.model.outputs[0], name=f"member_{i}")
        p = keras.layers.Activation("linear", dtype="float32", name=f"output_{i}")(
            member(normalize(inputs)))
        if m.from_logits:
            p = keras.layers.Softmax(dtype="float32", name=f"softmax_{i}")(p)
        outputs.append(keras.layers.Reshape((1, len(m.classes)), dtype="float32",
                                            name=f"stack_{i}")(p))
    stacked = keras.layers.Concatenate(axis=1, dtype="float32", name="members")(outputs)
    average = ProbabilityAverage(mean, member_weights=weights, dtype="float32",
                                 name="probabilities")(stacked)
    return keras.Model(inputs, average, name="ensemble")


def member_probabilities(member: Member, raw) -> np.ndarray:
    """What the rebuilt member answers to raw inputs, run as a graph like its SavedModel."""
    import tensorflow as tf

    normalized = (np.asarray(raw, "float32") - member.mean) / member.std
    if member.infer is None:
        # One trace for every batch size: a trace per call made TensorFlow warn about retracing.
        spec = tf.TensorSpec((None, *member.input_shape), tf.float32)
        member.infer = tf.function(lambda x: member.model(x, training=False), autograph=False,
                                   input_signature=[spec])
    out = np.asarray(member.infer(tf.constant(normalized, tf.float32)), dtype="float32")
    if member.from_logits:
        out = np.exp(out - out.max(-1, keepdims=True))
        out /= out.sum(-1, keepdims=True)
    return out


def verify_members(members: list[Member], probe, atol: float) -> list[float]:
    """Each SavedModel member's own signature against its rebuilt model on `probe`: the largest
    absolute difference of the probabilities per member (refused above `atol`)."""
    from kzoo.export.loaded_model import load_saved_model

    found = []
    for m in members:
        if m.saved_model is None:
            found.append(0.0)
            continue
        served = load_saved_model(m.saved_model).predict(probe)["probabilities"]
        diff = float(np.max(np.abs(served - member_probabilities(m, probe))))
        if not diff <= atol:
            raise UserError(
                f"member {m.source!r} rebuilt from its files differs from its own SavedModel by "
                f"{diff:.3g} (tolerance {atol:g}) on the probe batch; nothing was exported"
            )
        found.append(diff)
    return found


def evaluate_members(members: list[Member], ensemble, dataset: str) -> dict:
    """Test accuracy of each member and of the ensemble on `dataset`'s test split (raw inputs)."""
    import kzoo.data

    arrays = kzoo.data.load_arrays(dataset)
    x, y = arrays["x_test"], arrays["y_test"].astype(int)
    scores = {"members": []}
    for m in members:
        p = member_probabilities(m, x)
        scores["members"].append({"source": m.source, "label": m.label,
                                  "test_accuracy": float(np.mean(p.argmax(-1) == y))})
    p = np.asarray(ensemble.predict(x.astype("float32"), batch_size=512, verbose=0), "float64")
    picked = np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)
    scores["test_accuracy"] = float(np.mean(p.argmax(-1) == y))
    scores["test_cross_entropy"] = float(-np.mean(np.log(picked)))
    scores["best_member_test_accuracy"] = max(s["test_accuracy"] for s in scores["members"])
    return scores


def export_ensemble(sources, name, *, root="saved_models", version=None, force=False,
                    mean="arithmetic", weights=None, member_atol=1e-4, evaluate=True) -> Path:
    """Build, check and export the ensemble of `sources` as `<root>/<name>/<version>/`.

    Args:
        sources: two or more SavedModel versions / model directories or finished run directories.
        name, root, version, force: as in `export_saved_model`.
        mean: "arithmetic" (average of probabilities) or "geometric" (normalised product).
        weights: one positive weight per member (default equal).
        member_atol: the largest difference allowed between a rebuilt member and its SavedModel.
        evaluate: evaluate members and ensemble on the members' dataset when they share one.

    Returns:
        The published version directory.

    Example:
        >>> export_ensemble(["saved_models/a", "saved_models/b", "saved_models/c"], "abc")
    """
    from kzoo.export.paths import check_export_target
    from kzoo.export.signature import make_raw_input, probe_inputs

    check_export_target(root, name, version, force)  # before anything is loaded
    members = [load_member(s) for s in sources]
    check_members(members)
    ensemble = build_ensemble(members, mean, weights)
    first = members[0]
    raw_range = shared_range(members)  # members refuse probes outside the values they know
    probe = probe_inputs(make_raw_input(first.input_shape, first.raw_dtype, first.mean, first.std,
                                        raw_range=raw_range))
    member_diffs = verify_members(members, probe, member_atol)
    datasets = {m.dataset for m in members}
    dataset = datasets.pop() if len(datasets) == 1 else None
    scores = evaluate_members(members, ensemble, dataset) if evaluate and dataset else {}
    record = {
        "mean": mean,
        "weights": None if weights is None else [float(w) for w in weights],
        "members": [
            {"source": m.source, "label": m.label,
             "saved_model": str(m.saved_model.resolve()) if m.saved_model else None,
             "max_abs_diff_from_its_saved_model": d,
             **({"test_accuracy": s["test_accuracy"]} if scores else {})}
            for m, d, s in zip(members, member_diffs,
                               scores.get("members") or [{}] * len(members), strict=True)
        ],
    }
    from kzoo.export.saved_model import export_saved_model

    metrics = {k: scores[k] for k in ("test_accuracy", "test_cross_entropy",
                                      "best_member_test_accuracy") if k in scores}
    return export_saved_model(
        ensemble, name, root=root, version=version, force=force, raw_dtype=members[0].raw_dtype,
        raw_range=raw_range, class_names=members[0].classes, metrics=metrics, probe=probe,
        metadata={"ensemble": record, "dataset": dataset},
    )


def _short(items, limit: int = 6) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (", ..." if len(items) > limit else "")


def add_parser(sub) -> None:
    """Add `kzoo ensemble` to the `kzoo` command's subparsers."""
    p = sub.add_parser(
        "ensemble", help="one SavedModel serving the average of several exported models",
        description="Build one SavedModel whose serving_default takes the members' raw input, "
        "runs every member and averages their probabilities; verified and published like any "
        "export.",
    )
    p.add_argument("members", nargs="+", metavar="MEMBER",
                   help="exported SavedModels (<root>/<name>[/<version>]) or finished run "
                   "directories; at least 2")
    p.add_argument("--name", required=True, help="the ensemble's name under --root")
    p.add_argument("--mean", default="arithmetic", choices=MEANS,
                   help="average of the probabilities, or their normalised geometric mean")
    p.add_argument("--weights", type=float, nargs="+", default=None, metavar="W",
                   help="one positive weight per member (default: equal)")
    p.add_argument("--root", default="saved_models", help="export root [saved_models]")
    p.add_argument("--version", type=int, default=None, help="version number (default: next)")
    p.add_argument("--force", action="store_true", help="replace an existing --version")
    p.set_defaults(func=_cmd_ensemble)


def _cmd_ensemble(args) -> int:
    from kzoo.export.metadata import read_metadata

    if args.weights is not None and not all(0 < w < math.inf for w in args.weights):
        raise UserError(f"--weights must be positive finite numbers; received {args.weights}")
    path = export_ensemble(args.members, args.name, root=args.root, version=args.version,
                           force=args.force, mean=args.mean, weights=args.weights)
    meta = read_metadata(path)
    record = meta["extra"]["ensemble"]
    print(f"exported {shown_path(path)}: the {record['mean']} mean of {len(record['members'])} members "
          f"(verified on {meta['verification']['probe_size']} probe inputs)")
    for m in record["members"]:
        acc = f", test accuracy {m['test_accuracy']:.4f}" if "test_accuracy" in m else ""
        print(f"  member {m['label']}: max |difference| from its SavedModel "
              f"{m['max_abs_diff_from_its_saved_model']:.3g}{acc}")
    if "test_accuracy" in meta.get("metrics", {}):
        print(f"ensemble test accuracy {meta['metrics']['test_accuracy']:.4f} on "
              f"{meta['extra']['dataset']} (best member "
              f"{meta['metrics']['best_member_test_accuracy']:.4f})")
    return 0
