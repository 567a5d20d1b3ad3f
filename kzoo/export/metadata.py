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

METADATA_FILE = "assets.extra/kzoo_metadata.json"
FORMAT = "kzoo-saved-model"
FORMAT_VERSION = 1


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksums(version_dir) -> dict[str, str]:
    """sha256 of every file under `version_dir` except the metadata file, by POSIX relative path."""
    version_dir = Path(version_dir)
    sums = {}
    for path in sorted(p for p in version_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(version_dir).as_posix()
        if rel != METADATA_FILE:
            sums[rel] = sha256_file(path)
    return sums


def verify_checksums(version_dir, metadata: dict) -> list[str]:
    """Problems found comparing the files on disk with `metadata["files"]` (empty list = all match)."""
    expected = metadata.get("files", {})
    actual = file_checksums(version_dir)
    problems = [f"missing: {rel}" for rel in sorted(set(expected) - set(actual))]
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
    """The metadata of an exported version, or None for a SavedModel exported without it."""
    path = Path(version_dir) / METADATA_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
