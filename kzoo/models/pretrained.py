"""`weights=`: load trained weights into a freshly built model, variable by variable, checked.

A weights source is one of

- a `.weights.h5` file (`model.save_weights`, a run's checkpoint, a `kzoo publish` file),
- a `.keras` file, or a finished run directory (its `model.keras`),
- an exported SavedModel version (`saved_models/<name>/<version>`, or `<name>` for its latest):
  its variables are read from its checkpoint into the model its metadata's Keras config describes;
  its graph is never loaded or run (`kzoo.models.saved_model_weights`),
- a registered name (`create_model("resnet20", weights="digits")`, `kzoo.models.weights_registry`).

Every file goes through kzoo's safe readers (`.keras`: `load_keras`; `.weights.h5`: structure and
sizes before values; SavedModel: metadata and checksums, no graph). The weights are then matched to
the new model by variable path (`stage1_block1/conv1/kernel`): a variable missing on either side or
of another shape is refused, naming the layer. The classifier (`predictions`) is the exception:
when the model's number of classes differs from the checkpoint's, or the checkpoint has none, it
keeps its fresh initialisation and a `ClassifierReplaced` warning says so; with
`include_top=False` the checkpoint's classifier is simply not used.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kzoo.utils.errors import UserError

CLASSIFIER = "predictions"
# A classifier of another head size reads at most this many times the model's variables' bytes.
_READ_ALLOWANCE = 4
_READ_MARGIN = 64 << 20


class IncompatibleWeightsError(UserError):
    """The weights do not fit the model; the message names the first layer that differs."""


class ClassifierReplaced(UserWarning):
    """The model's classifier kept its fresh weights (other classes, or none in the checkpoint)."""


@dataclass(frozen=True)
class WeightsSource:
    """A resolved `weights=` value.

    Attributes:
        kind: "weights_h5", "keras", "run", "saved_model" or "registered".
        path: the file or directory read (for "registered": None until fetched).
        shown: how messages name it.
        model: the registered model the weights were trained as, when recorded.
        builder_kwargs: the builder arguments they were trained with, when recorded (`classes`,
            `input_shape`, family arguments).
        dataset: the dataset they were trained on, when recorded.
        entry: the weights-registry entry ("registered").
    """

    kind: str
    path: Path | None
    shown: str
    model: str | None = None
    builder_kwargs: dict = field(default_factory=dict)
    dataset: str | None = None
    entry: Any = None


@dataclass
class LoadReport:
    """What `load_pretrained` did: the source, the sha256 of the bytes read, how many variables
    it loaded and what happened to the classifier ("loaded", "replaced", "not in the model")."""

    source: str
    sha256: str
    loaded: int
    classifier: str
    note: str = ""


def looks_like_path(text: str) -> bool:
    """A `weights=` string meant as a path (else a registered weights name)."""
    return (os.path.exists(text) or "/" in text or os.sep in text or text.startswith(".")
            or text.endswith((".h5", ".keras")))


def resolve_weights(weights, model: str | None = None) -> WeightsSource:
    """What `weights` names, checked for existence and kind before any model is built.

    Args:
        weights: a path (str or PathLike) or a registered weights name of `model`.
        model: the registered model name the weights are for (needed for registered names).
    """
    if isinstance(weights, os.PathLike) or (isinstance(weights, str) and looks_like_path(weights)):
        return _resolve_path(Path(weights))
    if not isinstance(weights, str) or not weights:
        raise UserError(
            "`weights` must be None, a path (.weights.h5, .keras, a finished run directory or an "
            f"exported SavedModel) or a registered weights name; received weights={weights!r}."
        )
    if model is None:
        raise UserError(
            f"weights={weights!r} looks like a registered weights name, which needs a registered "
            "model: use kzoo.create_model(name, weights=...), or pass a path."
        )
    from kzoo.models.weights_registry import get_weights

    entry = get_weights(model, weights)
    return WeightsSource("registered", None, f"{model}:{weights}", model=model,
                         builder_kwargs=dict(entry.builder_kwargs), dataset=entry.dataset,
                         entry=entry)


def _resolve_path(path: Path) -> WeightsSource:
    from kzoo.models.saved_model_weights import is_saved_model_dir

    shown = str(path)
    if path.is_dir():
        if is_saved_model_dir(path):
            return _saved_model_source(path)
        if (path / "config.json").is_file():
            return _run_source(path)
        raise UserError(
            f"weights={shown!r} is a directory but neither a finished run directory nor an "
            "exported SavedModel."
        )
    if not os.path.lexists(path):
        raise UserError(f"weights={shown!r}: no such file or directory.")
    if not path.exists():
        raise UserError(f"weights={shown!r} is a symbolic link to nothing.")
    if path.name.endswith(".weights.h5"):
        return WeightsSource("weights_h5", path, shown)
    if path.suffix == ".keras":
        return WeightsSource("keras", path, shown)
    raise UserError(
        f"weights={shown!r} must be a .weights.h5 or .keras file, a finished run directory or an "
        "exported SavedModel directory."
    )


def _saved_model_source(path: Path) -> WeightsSource:
    from kzoo.models.saved_model_weights import read_metadata, version_dir

    meta = read_metadata(version_dir(path))
    ensemble = (meta.get("extra") or {}).get("ensemble")
    if isinstance(ensemble, dict):
        members = ensemble.get("members") if isinstance(ensemble.get("members"), list) else []
        shown = ", ".join(repr(m.get("source")) for m in members[:8] if isinstance(m, dict))
        raise UserError(
            f"weights={str(path)!r} is an ensemble of {len(members)} networks (kzoo ensemble), not "
            f"one network's weights; pass one of its members ({shown})"
        )
    builder = (meta.get("model") or {}).get("builder")
    builder = builder if isinstance(builder, dict) else {}
    kwargs = builder.get("kwargs") if isinstance(builder.get("kwargs"), dict) else {}
    name = builder.get("name") if isinstance(builder.get("name"), str) else None
    dataset = (meta.get("extra") or {}).get("dataset")
    return WeightsSource("saved_model", path, str(path), model=name, builder_kwargs=dict(kwargs),
                         dataset=dataset if isinstance(dataset, str) else None)


def _run_source(run_dir: Path) -> WeightsSource:
    from kzoo.utils.files import read_json

    shown = str(run_dir)
    for name in ("config.json", "normalization.json", "model.keras", "metrics.json"):
        if os.path.islink(run_dir / name):
            raise UserError(
                f"{str(run_dir / name)!r} is a symbolic link; kzoo reads only the run directory's "
                "own files, never through a link"
            )
    for name in ("metrics.json", "model.keras"):
        if not (run_dir / name).is_file():
            raise UserError(
                f"weights={shown!r} is not a finished run (no {name}): rerun its command to finish "
                "it, or pass a checkpoint file (checkpoint/latest.weights.h5)."
            )
    saved = read_json(run_dir / "config.json", default={}) or {}
    config = saved.get("config") if isinstance(saved, dict) else None
    norm = read_json(run_dir / "normalization.json", default={}) or {}
    kwargs = {}
    if isinstance(config, dict):
        if isinstance(norm, dict):
            for key, value in (("classes", norm.get("num_classes")),
                               ("input_shape", norm.get("input_shape"))):
                if value is not None:
                    kwargs[key] = tuple(value) if isinstance(value, list) else value
        if isinstance(config.get("model_kwargs"), dict):
            kwargs.update(config["model_kwargs"])
        return WeightsSource("run", run_dir / "model.keras", shown, model=config.get("model"),
                             builder_kwargs=kwargs, dataset=config.get("dataset"))
    return WeightsSource("run", run_dir / "model.keras", shown)


def builder_defaults(source: WeightsSource, kwargs: dict, model: str | None = None) -> dict:
    """`kwargs` completed with the builder arguments the weights were trained with (the caller's
    own arguments win), so `create_model("resnet20", weights="digits")` builds for digits. Family
    arguments carry over only to the model the weights were trained as; `classes` and
    `input_shape` to any."""
    recorded = dict(source.builder_kwargs)
    if "input_shape" in recorded and isinstance(recorded["input_shape"], list):
        recorded["input_shape"] = tuple(recorded["input_shape"])
    if source.model is not None and model is not None and source.model != model:
        recorded = {k: v for k, v in recorded.items() if k in ("classes", "input_shape")}
    if kwargs.get("include_top", True) is False:
        recorded.pop("classes", None)
    return {**recorded, **kwargs}


def load_pretrained(model, source: WeightsSource, *, keep_classifier: bool = True) -> LoadReport:
    """Load `source` into the built `model`, checking every variable (see the module docstring).

    Args:
        model: the freshly built model.
        source: a `resolve_weights` result.
        keep_classifier: False re-initialises the classifier even when it fits (a new task with
            as many classes, e.g. fine-tuning on another dataset).

    Returns:
        A `LoadReport`.

    Raises:
        IncompatibleWeightsError: naming the first layer that differs.
        UnsafeModelFileError, WeightsRefused, SavedModelWeightsError: a file kzoo will not read.
    """
    from kzoo.models.weights_sources import read_source

    targets = {v.path: v for v in model.weights}
    with read_source(model, source) as found:
        plan = _plan(targets, found, source, model, keep_classifier)
        budget = _READ_ALLOWANCE * sum(_nbytes(v) for v in targets.values()) + _READ_MARGIN
        values = found.read(list(plan.assign.values()), budget)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
            cast = {path: values[key].astype(targets[path].dtype)
                    for path, key in plan.assign.items()}
        for path, value in cast.items():  # all checked before any variable is assigned
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                key = found.key(path)
                raise IncompatibleWeightsError(
                    f"weights {source.shown!r}: {path}" + ("" if key == path else f" ({key})")
                    + " holds NaN or "
                    f"infinite values (as {value.dtype}); refusing to start from them"
                )
        for path, value in cast.items():
            targets[path].assign(value)
        digest = found.sha256
    if plan.note:
        warnings.warn(plan.note, ClassifierReplaced, stacklevel=3)
    return LoadReport(source.shown, digest, len(plan.assign), plan.classifier, plan.note)


@dataclass
class _Plan:
    assign: dict  # target variable path -> source key
    classifier: str
    note: str


def _plan(targets: dict, found, source: WeightsSource, model, keep_classifier: bool) -> _Plan:
    """Match the model's variables with the source's, or raise naming the first difference."""
    head = CLASSIFIER + "/"
    shapes = found.shapes  # source path (target path when mapped) -> shape
    trained_as = f" (it was trained as {source.model})" if source.model else ""
    assign = {}
    for path, variable in targets.items():
        if path.startswith(head):
            continue
        want = tuple(int(d) for d in variable.shape)
        if path not in shapes:
            raise IncompatibleWeightsError(
                f"weights {source.shown!r} do not fit model {model.name!r}{trained_as}: layer "
                f"{_layer(path)!r} of the model ({path}, shape {want}) is not in the checkpoint"
                + _extra_hint(shapes, targets, found)
            )
        if tuple(shapes[path]) != want:
            raise IncompatibleWeightsError(
                f"weights {source.shown!r} do not fit model {model.name!r}{trained_as}: layer "
                f"{_layer(path)!r} differs: {path} has shape {tuple(shapes[path])} in the "
                f"checkpoint and {want} in the model" + _theirs(found, path)
            )
        assign[path] = found.key(path)
    extra = [p for p in shapes if p not in targets and not p.startswith(head)]
    if extra:
        raise IncompatibleWeightsError(
            f"weights {source.shown!r} do not fit model {model.name!r}{trained_as}: the checkpoint "
            f"has layer {found.describe(extra[0])!r}, which the model has not"
        )
    mine = {p: v for p, v in targets.items() if p.startswith(head)}
    theirs = {p: s for p, s in shapes.items() if p.startswith(head)}
    if not mine:
        return _Plan(assign, "not in the model", "")
    classes = _classes(mine)
    if not theirs:
        note = (f"{source.shown}: the checkpoint has no classifier; the model's {classes}-class "
                f"'{CLASSIFIER}' layer starts from random weights: train it")
        return _Plan(assign, "replaced", note)
    fits = set(mine) == set(theirs) and all(
        tuple(int(d) for d in v.shape) == tuple(theirs[p]) for p, v in mine.items()
    )
    if fits and keep_classifier:
        assign.update({p: found.key(p) for p in mine})
        return _Plan(assign, "loaded", "")
    theirs_classes = _classes_from_shapes(theirs)
    why = (f"the checkpoint has {theirs_classes} classes and the model {classes}" if not fits
           else "the model is for another task")
    note = (f"{source.shown}: classifier replaced ({why}): the model's '{CLASSIFIER}' layer "
            "starts from random weights: train it")
    return _Plan(assign, "replaced", note)


def _theirs(found, path: str) -> str:
    """The checkpoint's own name of the layer a `.weights.h5` dataset at `path`'s place holds."""
    theirs = found.describe(path)
    return f" (the checkpoint's layer there is {theirs!r})" if theirs != path else ""


def _extra_hint(shapes, targets, found) -> str:
    extra = [p for p in shapes if p not in targets and not p.startswith(CLASSIFIER + "/")]
    return f"; the checkpoint has {found.describe(extra[0])!r} instead" if extra else ""


def _layer(path: str) -> str:
    return path.split("/")[0]


def _classes(variables: dict) -> int:
    return _classes_from_shapes({p: tuple(v.shape) for p, v in variables.items()})


def _classes_from_shapes(shapes: dict) -> int:
    """The classifier's output size: the last axis of its kernel (else of its first variable)."""
    kernel = [s for p, s in shapes.items() if p.endswith("kernel") or p.endswith("/0")]
    ref = kernel[0] if kernel else next(iter(shapes.values()))
    return int(ref[-1]) if ref else 0


def _nbytes(variable) -> int:
    size = 1
    for d in variable.shape:
        size *= int(d)
    return size * 8


def source_sha256(source: WeightsSource) -> str:
    """The sha256 `load_pretrained(..., source).sha256` will report, computed without building a
    model: a file's bytes; for a SavedModel, one hash over its variables' checksums (checked);
    for registered weights, the registered digest (the file is checked when it is read)."""
    if source.kind == "registered":
        return source.entry.sha256
    if source.kind == "saved_model":
        from kzoo.models.saved_model_weights import read_metadata, variables_sha256, version_dir

        version = version_dir(source.path)
        return variables_sha256(version, read_metadata(version), str(version))
    from kzoo.models.weights_sources import file_sha256

    return file_sha256(source.path)


def apply_weights(model, weights, name: str | None = None):
    """What every family builder does with its `weights` argument: None returns `model`; anything
    else is resolved (a registered name needs the variant's `name`) and loaded."""
    if weights is None:
        return model
    load_pretrained(model, resolve_weights(weights, model=name))
    return model
