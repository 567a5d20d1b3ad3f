"""Save and load `.keras` files; loading refuses archives that could run foreign code.

Keras' `safe_mode=True` already refuses Python lambdas. Loading here first reads the archive's
`config.json` as plain JSON and refuses, before Keras deserialises anything, every config that names a
`Lambda` layer or a class or function from outside `keras` and `kzoo` -- so a crafted file cannot even
make Keras import a module of its choosing.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

CONFIG_FILE = "config.json"
# Any `keras.*` module passes this list, so a config naming one of Keras' own loaders or switches
# (e.g. `keras.models.load_model`, `keras.config.enable_unsafe_deserialization`, as in CVE-2025-8747
# and CVE-2025-9906) is stopped only by Keras' safe_mode itself. kzoo relies on the fixes in the
# Keras releases that pyproject.toml's `keras>=3.15` pin requires: do not lower the pin without
# narrowing this list.
ALLOWED_PACKAGES = ("keras", "kzoo")
# Layers that run code or load graphs from elsewhere: a model zoo checkpoint never needs them.
REFUSED_CLASSES = ("Lambda", "__lambda__", "TFSMLayer")
_MAX_CONFIG_BYTES = 64 << 20


class UnsafeModelFileError(ValueError):
    """A `.keras` file that kzoo refuses to load, and why."""


def _package(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def find_unsafe_entries(config) -> list[str]:
    """Describe every entry of a `.keras` config that is not plain keras/kzoo; empty when safe."""
    problems = []

    def walk(node, where):
        if isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")
            return
        if not isinstance(node, dict):
            return
        class_name = node.get("class_name")
        if class_name in REFUSED_CLASSES:
            problems.append(f"{where}: class_name={class_name!r} (runs arbitrary code)")
        module = node.get("module")
        if module is not None and (not isinstance(module, str) or _package(module) not in ALLOWED_PACKAGES):
            problems.append(f"{where}: module={module!r} (outside {' / '.join(ALLOWED_PACKAGES)})")
        registered = node.get("registered_name")
        if registered is not None and (
            not isinstance(registered, str)
            or (">" in registered and registered.split(">", 1)[0] not in ALLOWED_PACKAGES)
        ):
            problems.append(f"{where}: registered_name={registered!r} (not a keras/kzoo object)")
        function = node.get("function")
        if function is not None and not isinstance(function, dict) and (
            not isinstance(function, str) or _package(function) not in ALLOWED_PACKAGES
        ):
            problems.append(f"{where}: function={function!r} (outside keras / kzoo)")
        for key, value in node.items():
            walk(value, f"{where}.{key}")

    walk(config, "config")
    return problems


def scan_keras_file(path) -> dict:
    """Read a `.keras` archive's config.json without deserialising it; refuse unsafe ones.

    Returns the parsed config. Raises UnsafeModelFileError (a ValueError) naming every offending
    entry, or when the file is not a well-formed `.keras` archive.
    """
    path = _check_suffix(path)
    return _scan(path, shown=str(path))


def _check_suffix(path) -> Path:
    path = Path(path)
    if path.suffix != ".keras":
        raise UnsafeModelFileError(f"`path` must name a .keras file; received path={str(path)!r}.")
    return path


def _scan(path: Path, shown: str) -> dict:
    """`scan_keras_file` of `path`, with messages naming `shown` (the file the user gave)."""
    if not zipfile.is_zipfile(path):
        raise UnsafeModelFileError(f"{shown!r} is not a .keras archive (not a zip file).")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if len(names) != len(set(names)):
            raise UnsafeModelFileError(f"{shown!r} holds duplicate entries; refusing to load it.")
        if CONFIG_FILE not in names:
            raise UnsafeModelFileError(f"{shown!r} has no {CONFIG_FILE}; not a .keras archive.")
        if archive.getinfo(CONFIG_FILE).file_size > _MAX_CONFIG_BYTES:
            raise UnsafeModelFileError(f"{shown!r}: {CONFIG_FILE} is implausibly large.")
        try:
            config = json.loads(archive.read(CONFIG_FILE))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UnsafeModelFileError(f"{shown!r}: {CONFIG_FILE} is not JSON ({err}).") from err
    problems = find_unsafe_entries(config)
    if problems:
        raise UnsafeModelFileError(
            f"Refusing to load {shown!r}: its config names code outside keras and kzoo, which "
            "loading could run. Offending entries:\n  " + "\n  ".join(problems)
        )
    return config


def load_keras(path, *, compile: bool = True):
    """Load a `.keras` file after `scan_keras_file` accepts it, always with `safe_mode=True`.

    The file is first copied, once, to a private temporary file (mode 0600); that copy is scanned and
    that same copy is loaded, then deleted. So whoever can write `path` cannot swap in another
    archive between the scan and the load.

    Example:
        >>> model = kzoo.export.load_keras("runs/digits/model.keras")
    """
    import keras

    import kzoo.layers  # noqa: F401  registers kzoo's layers and blocks before deserialising

    path = _check_suffix(path)
    with open(path, "rb") as source:
        fd, private = tempfile.mkstemp(prefix="kzoo-load-", suffix=".keras")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as copy:
                shutil.copyfileobj(source, copy)
            _scan(Path(private), shown=str(path))
            return keras.saving.load_model(private, compile=compile, safe_mode=True)
        finally:
            os.unlink(private)


def save_keras(model, path, *, overwrite: bool = False):
    """Save `model` to a `.keras` file, written beside it and renamed so no half file is visible.

    Example:
        >>> kzoo.export.save_keras(model, "digits_cnn.keras")
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"`path` must end in .keras; received path={str(path)!r}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp, overwrite=True)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if `path` appeared meanwhile, instead of replacing it
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
