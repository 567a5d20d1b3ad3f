"""Read a resolved weights source as `{variable path: shape}` first, values on demand.

`read_source(model, source)` opens the source with kzoo's safe reader for its kind and yields a
`Found`: the shapes of what it holds, keyed by the *model's* variable paths wherever Keras' saving
layout maps them (a `.weights.h5` file names its groups by layer class and order, not by layer
name), the sha256 of the bytes read, and `read(keys, max_bytes)` for the values.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kzoo.utils.errors import UserError

CLASSIFIER = "predictions"


@dataclass
class Found:
    """What a source holds: `shapes` by path, the key to read for each path, its sha256."""

    shapes: dict
    sha256: str
    keys: dict = field(default_factory=dict)  # path -> key to read (identity when absent)
    names: dict = field(default_factory=dict)  # path -> how to name it in a message
    reader: Callable | None = None

    def key(self, path: str) -> str:
        return self.keys.get(path, path)

    def describe(self, path: str) -> str:
        return self.names.get(path, path)

    def read(self, keys, max_bytes: int) -> dict:
        return self.reader(keys, max_bytes)


@contextlib.contextmanager
def read_source(model, source):
    """Yield the `Found` of `source` (a `kzoo.models.pretrained.WeightsSource`) for `model`."""
    if source.kind in ("weights_h5", "registered"):
        with _h5(model, source) as found:
            yield found
        return
    if source.kind in ("keras", "run"):
        from kzoo.models.keras_files import load_keras

        digest = file_sha256(source.path)
        yield _from_model(load_keras(source.path, compile=False), digest)
        return
    if source.kind == "saved_model":
        from kzoo.models.saved_model_weights import load_saved_model_weights

        loaded, _, digest = load_saved_model_weights(source.path)
        yield _from_model(loaded, digest)
        return
    raise ValueError(f"Unknown weights source kind={source.kind!r}.")


def _from_model(loaded, digest: str) -> Found:
    import numpy as np

    variables = {v.path: v for v in loaded.weights}

    def read(keys, max_bytes):
        return {k: np.asarray(variables[k].numpy()) for k in keys}

    shapes = {p: tuple(int(d) for d in v.shape) for p, v in variables.items()}
    return Found(shapes, digest, reader=read)


@contextlib.contextmanager
def _h5(model, source):
    from kzoo import keras_private
    from kzoo.models.keras_weights import WeightsRefused
    from kzoo.models.weights_h5 import ShaMismatch, WeightsFile

    path = source.path
    entry = source.entry
    if source.kind == "registered":
        from kzoo.models.weights_registry import weights_file

        path = weights_file(entry)
    weights_ids = {id(v) for v in model.weights}
    by_key = {k: v for k, v in keras_private.weights_layout(model).items() if id(v) in weights_ids}
    try:
        with WeightsFile(path, entry.sha256 if entry is not None else None) as f:
            found = Found({}, f.sha256, reader=lambda keys, limit: f.read_values(keys, limit))
            for key, shape in f.shapes.items():
                variable = by_key.get(key)
                if variable is not None:
                    found.shapes[variable.path] = shape
                    found.keys[variable.path] = key
                    theirs = f.layer_name(key)
                    if theirs != key.rsplit("/vars/", 1)[0] and theirs != variable.path.split("/")[0]:
                        found.names[variable.path] = theirs
                    continue
                if key.startswith("optimizer/") or key.endswith(_SEED_SUFFIXES):
                    continue  # a checkpoint's optimizer state, a dropout layer's seed
                layer = f.layer_name(key)
                name = f"{CLASSIFIER}/{key}" if layer == CLASSIFIER else key
                found.shapes[name] = shape
                found.keys[name] = key
                found.names[name] = f"{layer} ({key})" if layer != key.rsplit("/vars/", 1)[0] else key
            yield found
    except ShaMismatch as err:
        from kzoo.models.weights_registry import forget_file

        forget_file(entry, Path(path))
        raise UserError(
            f"weights {source.shown}: {str(path)!r} has sha256 {err.sha256}, not the registered "
            f"{entry.sha256}; refused" + ("" if entry.file else " and deleted")
        ) from None
    except WeightsRefused as err:
        raise UserError(f"Refusing to load weights {str(path)!r}: {err}.") from None


# A SeedGenerator's state: saved by `save_weights`, not a weight (`model.weights` leaves it out).
_SEED_SUFFIXES = ("seed_generator/vars/0",)


def file_sha256(path) -> str:
    """The sha256 of a regular file of at most the loaders' cap; FIFOs, devices and larger files
    are refused before a byte is read (a plain read of one would never end)."""
    from kzoo.models.keras_archive import MAX_ARCHIVE_BYTES, ArchiveRefused, open_regular_file

    try:
        fd = open_regular_file(path)
    except FileNotFoundError:
        raise UserError(f"weights={str(path)!r}: no such file (a link to nothing?).") from None
    except ArchiveRefused as err:
        raise UserError(f"Refusing to read weights {str(path)!r}: "
                        f"{err.rule.replace('.keras file', 'file')}.") from None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        if size > MAX_ARCHIVE_BYTES:
            raise UserError(f"Refusing to read weights {str(path)!r}: it is {size:,} bytes, more "
                            f"than the {MAX_ARCHIVE_BYTES:,} kzoo reads.")
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
