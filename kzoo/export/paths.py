"""Names, versions and directories of the TensorFlow Serving layout `<root>/<name>/<version>/`."""

from __future__ import annotations

import os
import re
from pathlib import Path

# An allow-list rather than a deny-list: separators, `..`, absolute paths, NUL, empty and hidden names
# all fail it, and so does anything a file system or a URL might read differently.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# TF Serving treats a child of `<name>/` as a version only if its name parses as an int64.
_VERSION_RE = re.compile(r"[1-9][0-9]{0,17}")
SAVED_MODEL_FILE = "saved_model.pb"


def validate_name(name) -> str:
    """Return `name` if it is a safe single path component; otherwise raise ValueError."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            "`name` must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no path separators, '..', absolute paths or NUL); received "
            f"name={name!r}."
        )
    return name


def validate_version(version) -> int:
    """Return `version` if it is a positive int (TF Serving versions are int64); else ValueError."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 10**18:
        raise ValueError(
            f"`version` must be a positive integer such as 1 or 2; received version={version!r}."
        )
    return version


def validate_root(root) -> Path:
    """Return `root` as a Path; a NUL byte or a non-path value raises ValueError."""
    if not isinstance(root, (str, os.PathLike)) or "\0" in os.fspath(root) or not os.fspath(root):
        raise ValueError(f"`root` must be a directory path; received root={root!r}.")
    return Path(root)


def list_versions(model_dir) -> list[int]:
    """The published versions under `<root>/<name>/`, ascending; staging directories are ignored."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(
        int(p.name) for p in model_dir.iterdir() if _VERSION_RE.fullmatch(p.name) and p.is_dir()
    )


def next_version(model_dir) -> int:
    """One more than the highest published version, or 1."""
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def resolve_saved_model_dir(path) -> Path:
    """A version directory as given, or the latest version of a `<root>/<name>/` directory.

    Raises FileNotFoundError naming the path when neither holds a SavedModel.
    """
    path = Path(path)
    if (path / SAVED_MODEL_FILE).is_file():
        return path
    versions = list_versions(path)
    if versions and (path / str(versions[-1]) / SAVED_MODEL_FILE).is_file():
        return path / str(versions[-1])
    raise FileNotFoundError(
        f"{str(path)!r} is neither a SavedModel version directory (with {SAVED_MODEL_FILE}) nor a "
        "model directory holding numbered versions."
    )
