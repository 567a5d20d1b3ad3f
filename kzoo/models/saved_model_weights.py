"""The Keras model inside a kzoo SavedModel version, rebuilt without running its graph.

A SavedModel is a program: loading it with `tf.saved_model.load` and calling it runs its TensorFlow
graph. To reuse an export's weights (`create_model(..., weights="saved_models/digits/3")`, `kzoo
ensemble`), kzoo never loads that graph. It reads two kinds of data instead:

- `assets.extra/kzoo_metadata.json` (opened without following a link, at most 16 MiB, NaN refused):
  the exported model's Keras config, checked like a `.keras` file's `config.json` (every object it
  names allow-listed, built by Keras in safe mode, Keras' process-wide settings compared before
  and after) -- `kzoo.models.keras_files.build_from_config`;
- `variables/`: the TensorFlow checkpoint of the variables (`keras.export.ExportArchive` stores
  `model.variables` as `variables/<i>`), whose files must match the sha256 the metadata records
  and whose every tensor must have the shape and dtype of the rebuilt model's variable at that
  index before a value is read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from kzoo.utils.bounded_json import BoundedJSONError, loads_bounded
from kzoo.utils.errors import UserError

# The export's layout (`kzoo.export.metadata`; a test checks they agree).
METADATA_FILE = "assets.extra/kzoo_metadata.json"
FORMAT = "kzoo-saved-model"
MAX_METADATA_BYTES = 16 << 20
MAX_VARIABLE_BYTES = 2 << 30
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_KEY = "variables/{}/.ATTRIBUTES/VARIABLE_VALUE"


class SavedModelWeightsError(UserError):
    """A SavedModel version whose weights kzoo will not read; the message says why."""


def is_saved_model_dir(path) -> bool:
    """Whether `path` is an exported version (`saved_model.pb` inside) or a directory of them."""
    try:
        version_dir(path)
    except (SavedModelWeightsError, OSError):
        return False
    return True


def version_dir(path) -> Path:
    """`path` if it is a version directory, else its highest numeric version directory."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if path.is_dir():
        versions = sorted(
            (int(e.name), Path(e.path)) for e in os.scandir(path)
            if e.name.isdigit() and e.is_dir(follow_symlinks=False)
            and (Path(e.path) / "saved_model.pb").is_file()
        )
        if versions:
            return versions[-1][1]
    raise SavedModelWeightsError(f"{str(path)!r} is not an exported SavedModel version")


def read_metadata(version) -> dict:
    """The version's kzoo metadata: a JSON object read without following links, bounded."""
    version = Path(version)
    shown = str(version / METADATA_FILE)
    data = _read_inside(version, METADATA_FILE, MAX_METADATA_BYTES, shown)
    try:
        meta = loads_bounded(data, max_bytes=MAX_METADATA_BYTES, finite=True)
    except BoundedJSONError as err:
        raise SavedModelWeightsError(f"{shown!r} {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SavedModelWeightsError(f"{shown!r} is not the metadata of a kzoo export")
    return meta


def load_saved_model_weights(path):
    """Rebuild the Keras model of an exported version with its exported weights.

    Returns:
        `(model, metadata, sha256)`: the model (uncompiled), the version's metadata and one sha256
        over the variables' files (what a fine-tuning run's fingerprint records).

    Raises:
        SavedModelWeightsError: no kzoo metadata, no Keras config in it, variables that do not
            match their checksums or the model, links inside the version.
        UnsafeModelFileError: the Keras config names something a kzoo model may not.
    """
    from kzoo.models.keras_files import build_from_config

    version = version_dir(path)
    shown = str(version)
    meta = read_metadata(version)
    config = (meta.get("model") or {}).get("keras_config")
    if not isinstance(config, dict):
        raise SavedModelWeightsError(f"{shown!r}: its metadata records no Keras config")
    digest = variables_sha256(version, meta, shown)
    model = build_from_config(config, f"{shown} ({METADATA_FILE})")
    _assign_variables(model, version, shown)
    return model, meta, digest


def variables_sha256(version: Path, meta: dict, shown: str) -> str:
    """One sha256 over the version's variable files, each checked against the sha256 its
    metadata records (opened without following links, bounded in total)."""
    files = meta.get("files")
    if not isinstance(files, dict):
        raise SavedModelWeightsError(f"{shown!r}: its metadata records no file checksums")
    names = sorted(k for k in files if isinstance(k, str) and k.startswith("variables/"))
    if "variables/variables.index" not in names:
        raise SavedModelWeightsError(f"{shown!r}: its metadata lists no variables/variables.index")
    combined = hashlib.sha256()
    total = 0
    for rel in names:
        fd = _open_inside(version, rel, str(version / rel))
        try:
            total += os.fstat(fd).st_size
            if total > MAX_VARIABLE_BYTES:
                raise SavedModelWeightsError(
                    f"{shown!r}: its variables exceed the {MAX_VARIABLE_BYTES:,} bytes kzoo reads"
                )
            digest = hashlib.sha256()
            with os.fdopen(os.dup(fd), "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        finally:
            os.close(fd)
        if digest.hexdigest() != files[rel]:
            raise SavedModelWeightsError(
                f"{str(version / rel)!r} does not match the sha256 its metadata records (changed "
                "since it was exported); its weights are not read"
            )
        combined.update(f"{rel}:{files[rel]}\n".encode())
    return combined.hexdigest()


def _assign_variables(model, version: Path, shown: str) -> None:
    import numpy as np
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(version / "variables" / "variables"))
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except (tf.errors.OpError, ValueError) as err:
        raise SavedModelWeightsError(f"{shown!r}: its variables cannot be read ({err})") from None
    stored = sum(1 for k in shapes if k.startswith("variables/") and k.endswith("VARIABLE_VALUE"))
    variables = model.variables
    if stored != len(variables):
        raise SavedModelWeightsError(
            f"{shown!r} holds {stored} variables; the model its metadata describes has "
            f"{len(variables)}"
        )
    for i, variable in enumerate(variables):
        key = _KEY.format(i)
        want = tuple(int(d) for d in variable.shape)
        if key not in shapes or tuple(shapes[key]) != want:
            raise SavedModelWeightsError(
                f"{shown!r}: variable {i} ({variable.path}) has shape {want} in the model and "
                f"{tuple(shapes.get(key, ())) or 'none'} in the export"
            )
        if not dtypes[key].is_floating and not dtypes[key].is_integer:
            raise SavedModelWeightsError(f"{shown!r}: variable {i} has dtype {dtypes[key].name}")
    for i, variable in enumerate(variables):
        value = np.asarray(reader.get_tensor(_KEY.format(i)))
        variable.assign(value.astype(variable.dtype))


def _open_inside(base: Path, rel: str, shown: str) -> int:
    """An fd of the regular file `base/rel`, no component followed if it is a link."""
    parts = rel.split("/")
    dir_fd = os.open(base, os.O_RDONLY | _DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                fd = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)
            except OSError as err:
                raise SavedModelWeightsError(f"{shown!r} cannot be read ({err.strerror})") from None
            os.close(dir_fd)
            dir_fd = fd
        try:
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as err:
            raise SavedModelWeightsError(
                f"{shown!r} cannot be read ({err.strerror}; kzoo follows no link inside a version)"
            ) from None
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SavedModelWeightsError(f"{shown!r} is not a regular file")
    return fd


def _read_inside(base: Path, rel: str, limit: int, shown: str) -> bytes:
    fd = _open_inside(base, rel, shown)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise SavedModelWeightsError(f"{shown!r} is {size:,} bytes, more than the {limit:,} kzoo reads")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)
