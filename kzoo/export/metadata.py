"""The JSON that travels with an exported version: what the model is and how to feed it.

It lives at `<version>/assets.extra/kzoo_metadata.json`. The SavedModel format reserves `assets.extra/`
for files that sit beside a model without being loaded by its graph (TF Serving keeps its warm-up
requests there), and TF Serving only reads numeric directories under `<name>/`, so nothing in the
version directory trips either.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
from pathlib import Path

from kzoo.export.metadata_check import MetadataError, check_metadata
from kzoo.export.version_files import LinkInsideError, open_inside, scan_version
from kzoo.utils.bounded_json import BoundedJSONError, loads_bounded

METADATA_FILE = "assets.extra/kzoo_metadata.json"
# The metadata holds the model's Keras config (about 0.5 MB for resnet1202) and a checksum per file.
MAX_METADATA_BYTES = 16 << 20
FORMAT = "kzoo-saved-model"
FORMAT_VERSION = 1


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(version_dir) -> dict[str, str]:
    """sha256 of every file under `version_dir` except the metadata file, by POSIX relative path.

    Raises ValueError if the directory holds a link or a special file (an export never does).
    """
    found = scan_version(version_dir, skip=METADATA_FILE)
    if found.problems():
        raise ValueError(f"{str(version_dir)!r}: " + "; ".join(found.problems()))
    return found.checksums


def verify_checksums(version_dir, metadata: dict) -> list[str]:
    """Problems found comparing the files on disk with `metadata["files"]` (empty list = all match).

    Links and special files inside the version are problems, never read; paths in the metadata are
    only compared with what the walk found, never opened.
    """
    expected = metadata.get("files", {})
    found = scan_version(version_dir, skip=METADATA_FILE)
    actual = found.checksums
    problems = found.problems()
    unreadable = set(found.links) | set(found.special)
    problems += [f"missing: {rel}" for rel in sorted(set(expected) - set(actual) - unreadable)]
    problems += [f"unexpected: {rel}" for rel in sorted(set(actual) - set(expected))]
    problems += [
        f"checksum differs: {rel}"
        for rel in sorted(set(expected) & set(actual))
        if expected[rel] != actual[rel]
    ]
    return problems


def library_versions() -> dict[str, str]:
    import keras
    import numpy as np
    import tensorflow as tf

    import kzoo

    return {
        "kzoo": kzoo.__version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def write_metadata(version_dir, metadata: dict) -> Path:
    """Write `metadata` (plus fresh checksums of the other files) into `version_dir`."""
    path = Path(version_dir) / METADATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {**metadata, "files": file_checksums(version_dir)}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    return path


def read_metadata(version_dir) -> dict | None:
    """The metadata of an exported version, or None for a SavedModel exported without it.

    Read without following a link inside the version (a link is refused), at most
    `MAX_METADATA_BYTES`, with NaN and infinities refused, and checked to have the fields kzoo
    reads (`metadata_check`). Raises MetadataError (a UserError) naming the file and the rule.
    """
    shown = str(Path(version_dir) / METADATA_FILE)
    try:
        fd = open_inside(version_dir, METADATA_FILE)
    except LinkInsideError as err:
        raise MetadataError(
            f"{str(Path(version_dir) / err.filename)!r} is a symbolic link; kzoo reads metadata "
            "only from inside the version"
        ) from None
    except OSError as err:
        raise MetadataError(f"{shown!r} cannot be read ({err.strerror or err})") from None
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        if size > MAX_METADATA_BYTES:
            raise MetadataError(
                f"{shown!r} is {size:,} bytes, more than the {MAX_METADATA_BYTES:,} kzoo reads"
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_METADATA_BYTES + 1)
    finally:
        os.close(fd)
    try:
        meta = loads_bounded(data, max_bytes=MAX_METADATA_BYTES, finite=True)
    except BoundedJSONError as err:
        raise MetadataError(f"{shown!r} {err}") from None
    return check_metadata(meta, repr(shown))


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
