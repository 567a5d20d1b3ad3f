"""The shape `kzoo_metadata.json` must have before `kzoo info` or `kzoo predict` reads a field of it.

The file travels with the version and anyone can edit it, so each field kzoo reads is checked for
its type first: a metadata file of the wrong shape is a one-line refusal naming the field, not a
KeyError or a format error halfway through printing it. (Non-finite numbers never get this far: the
JSON is parsed with them refused.)
"""

from __future__ import annotations

import re

from kzoo.export.contract import TFLITE_FILE
from kzoo.utils.errors import UserError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_SHORT = 4096


class MetadataError(UserError):
    """`kzoo_metadata.json` is not what kzoo writes; the message names the file and the field."""


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text(v) -> bool:
    return isinstance(v, str) and len(v) <= _MAX_SHORT


def _numbers(v) -> bool:
    """A number or (nested) lists of numbers, as mean and std are stored."""
    if _number(v):
        return True
    stack = [v]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif not _number(item):
            return False
    return isinstance(v, list)


def _shape(v) -> bool:
    return isinstance(v, list) and len(v) <= 16 and all(d is None or (_int(d) and d >= 0) for d in v)


def _clean_relative(rel) -> bool:
    if not isinstance(rel, str) or not rel or len(rel) > _MAX_SHORT or rel.startswith("/"):
        return False
    return all(part not in ("", ".", "..") and "\\" not in part and "\0" not in part
               for part in rel.split("/"))


def _get(meta, dotted: str):
    node = meta
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


_MISSING = object()
# (field, rule, required)
_FIELDS = (
    ("name", ("a name", _text), True),
    ("version", ("a positive integer", lambda v: _int(v) and v >= 1), True),
    ("created", ("a timestamp string", _text), True),
    ("signature", ("an object", lambda v: isinstance(v, dict)), True),
    ("signature.key", ("a signature name", _text), True),
    ("signature.input.name", ("an input name", _text), True),
    ("signature.input.dtype", ("a dtype name", _text), True),
    ("signature.input.shape", ("a shape (a list of sizes or null)", _shape), True),
    ("signature.input.range", ("[low, high] numbers with low <= high", lambda v: isinstance(v, list)
                               and len(v) == 2 and all(map(_number, v)) and v[0] <= v[1]), False),
    ("signature.outputs", ("an object of outputs", lambda v: isinstance(v, dict) and all(
        _text(k) and isinstance(o, dict) and _text(o.get("dtype")) and _shape(o.get("shape"))
        for k, o in v.items()
    )), True),
    ("signature.normalization.formula", ("a formula string", _text), True),
    ("signature.normalization.mean", ("numbers", _numbers), True),
    ("signature.normalization.std", ("numbers", _numbers), True),
    ("classes", ("a list of class names", lambda v: isinstance(v, list) and all(map(_text, v))), True),
    ("model", ("an object", lambda v: isinstance(v, dict)), False),
    ("model.name", ("a name", lambda v: v is None or _text(v)), False),
    ("model.builder", ("an object or null", lambda v: v is None or isinstance(v, dict)), False),
    ("model.builder.name", ("a name", lambda v: v is None or _text(v)), False),
    ("model.trainable_params", ("a count", lambda v: _int(v) and v >= 0), False),
    ("metrics", ("an object", lambda v: isinstance(v, dict)), False),
    ("verification.probe_size", ("a count", lambda v: _int(v) and v >= 0), True),
    ("verification.max_abs_diff", ("a number >= 0", lambda v: _number(v) and v >= 0), True),
    ("tflite", ("an object or null", lambda v: v is None or isinstance(v, dict)), False),
    ("versions", ("an object of version strings", lambda v: isinstance(v, dict) and all(
        _text(k) and _text(x) for k, x in v.items()
    )), True),
    ("files", ("an object of relative paths and sha256 digests", lambda v: isinstance(v, dict) and all(
        _clean_relative(k) and isinstance(x, str) and _SHA256.fullmatch(x) for k, x in v.items()
    )), True),
)
_TFLITE = (
    # The one path kzoo writes and `kzoo predict --tflite` reads.
    ("tflite.file", (repr(TFLITE_FILE), lambda v: v == TFLITE_FILE)),
    ("tflite.bytes", ("a count", lambda v: _int(v) and v >= 0)),
    ("tflite.probe_size", ("a count", lambda v: _int(v) and v >= 0)),
    ("tflite.max_abs_diff", ("a number >= 0", lambda v: _number(v) and v >= 0)),
)
# Written for a model computing in bfloat16 / float16, converted from its float32 twin.
_TFLITE_TWIN = (
    ("tflite.saved_model_compute_dtype", ("a dtype name", _text)),
    ("tflite.vs_saved_model.max_abs_diff", ("a number >= 0", lambda v: _number(v) and v >= 0)),
    ("tflite.vs_saved_model.class_id_agreement",
     ("a fraction", lambda v: _number(v) and 0 <= v <= 1)),
)


def check_metadata(meta, shown: str) -> dict:
    """Return `meta` if every field kzoo reads has the type kzoo writes; else MetadataError."""
    if not isinstance(meta, dict):
        raise MetadataError(f"{shown} is not a JSON object")
    fields = list(_FIELDS)
    if isinstance(meta.get("tflite"), dict):
        fields += [(name, rule, True) for name, rule in _TFLITE]
        if "vs_saved_model" in meta["tflite"]:
            fields += [(name, rule, True) for name, rule in _TFLITE_TWIN]
    for dotted, (what, ok), required in fields:
        value = _get(meta, dotted)
        if value is _MISSING:
            if required:
                raise MetadataError(f"{shown}: `{dotted}` is missing; not a kzoo export's metadata")
            continue
        if not ok(value):
            raise MetadataError(f"{shown}: `{dotted}` must be {what}; received {_short(value)}")
    return meta


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
