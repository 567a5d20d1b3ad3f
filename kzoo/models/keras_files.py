"""Save and load `.keras` files; loading refuses, before Keras deserialises anything, every file that
could run foreign code, read other files, exhaust memory or disk, or change Keras for what runs next.

`load_keras` reads the archive once, bounded (`kzoo.models.keras_archive`: a regular file, only the
three members Keras writes, every size counted as it inflates), parses `config.json` with its size
and depth capped, and refuses any entry that is not a part of a model (`keras_allowlist`: layers,
activations, initializers, regularizers, constraints, losses, metrics, optimizers, the model classes,
dtype policies and kzoo's registered objects). Keras then builds the model from that config with
`safe_mode=True`; the weights file is checked against the model's variables (`keras_weights`) before
Keras reads a value from it; Keras' process-wide settings are compared before and after
(`keras_state`). Every refusal is an `UnsafeModelFileError` naming the member and the rule.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from kzoo.models import keras_archive
from kzoo.models.keras_allowlist import find_unsafe_entries  # noqa: F401  (public through kzoo.export)
from kzoo.models.keras_archive import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, ArchiveRefused
from kzoo.utils.bounded_json import BoundedJSONError, loads_bounded
from kzoo.utils.errors import UserError

MAX_CONFIG_DEPTH = 64


class UnsafeModelFileError(UserError):
    """A `.keras` file that kzoo refuses to load, naming the member and the rule (a ValueError)."""


def scan_keras_file(path) -> dict:
    """Check a `.keras` archive and its `config.json` without building anything; return the config.

    Every member is inflated (bounded) and checked, the weights discarded. Raises
    UnsafeModelFileError (a ValueError) naming every offending entry.
    """
    path = _check_suffix(path)
    fd = _open(path)
    try:
        contents = _read(fd, path, weights_dir=None)
    finally:
        os.close(fd)
    return _config(contents.config, contents.metadata, str(path), registered=None)


def load_keras(path, *, compile: bool = True):
    """Load a `.keras` file that passes every check above, always with `safe_mode=True`.

    The archive is read once, through one open file: what was checked is what gets built, even if
    the file is replaced meanwhile. The weights are unpacked to a private temporary directory
    (mode 0700), deleted afterwards.

    Example:
        >>> model = kzoo.export.load_keras("runs/digits/model.keras")
    """
    path = _check_suffix(path)
    shown = str(path)
    fd = _open(path)
    private = Path(tempfile.mkdtemp(prefix="kzoo-load-"))  # mode 0700
    try:
        try:
            contents = _read(fd, path, weights_dir=private)
        finally:
            os.close(fd)
        config = _config(contents.config, contents.metadata, shown, registered=None)
        # Only a file that passed every check above imports TensorFlow and kzoo's parts.
        import kzoo.layers  # noqa: F401  registers kzoo's layers, blocks and schedules
        from kzoo import keras_private
        from kzoo.models import keras_state
        from kzoo.models.keras_weights import WeightsRefused, check_weights_file, optimizers_in

        custom = keras_private.object_registration().GLOBAL_CUSTOM_OBJECTS
        registered = {k for k in custom if k.startswith("kzoo>")}
        _refuse_entries(find_unsafe_entries(config, registered=registered), shown)
        before = keras_state.snapshot()
        try:
            model = _build(config, compile, shown)
            try:
                check_weights_file(contents.weights, model, optimizers_in(config))
            except WeightsRefused as err:
                raise _refusal(shown, WEIGHTS_FILE, str(err)) from None
            try:
                model.load_weights(contents.weights)
            except (ValueError, TypeError, KeyError, OSError, RuntimeError) as err:
                raise _refusal(
                    shown, WEIGHTS_FILE, f"does not fit the model its config builds ({_first(err)})"
                ) from None
        finally:
            # Checked however the build ended; a change outranks any other refusal.
            changed = keras_state.changed_settings(before)
            if changed:
                keras_state.restore(before)
                raise _refusal(
                    shown, CONFIG_FILE, "building the model changed Keras' process-wide settings ("
                    + ", ".join(changed) + "); they were put back"
                )
        return model
    finally:
        shutil.rmtree(private, ignore_errors=True)


def build_from_config(config: dict, shown: str, *, compile: bool = False):
    """The model a Keras config (`serialize_keras_object(model)`, e.g. the one an export's metadata
    records) describes, under the checks `load_keras` applies to a `.keras` file's `config.json`:
    nested at most `MAX_CONFIG_DEPTH` deep, every object allow-listed, built by Keras in safe mode,
    Keras' process-wide settings unchanged afterwards. No weights are read.

    Raises:
        UnsafeModelFileError: naming `shown` and the rule the config breaks.
    """
    import json

    from kzoo.utils.bounded_json import json_depth

    if not isinstance(config, dict):
        raise _refusal(shown, None, "holds no Keras config (not a JSON object)")
    try:
        too_deep = json_depth(json.dumps(config).encode(), stop_above=MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH
    except (RecursionError, TypeError, ValueError):
        too_deep = True
    if too_deep:
        raise _refusal(shown, None, f"nests its Keras config more than {MAX_CONFIG_DEPTH} deep")
    import kzoo.layers  # noqa: F401  registers kzoo's layers, blocks and schedules
    from kzoo import keras_private
    from kzoo.models import keras_state

    custom = keras_private.object_registration().GLOBAL_CUSTOM_OBJECTS
    registered = {k for k in custom if k.startswith("kzoo>")}
    _refuse_entries(find_unsafe_entries(config, registered=registered), shown)
    before = keras_state.snapshot()
    try:
        return _build(config, compile, shown)
    finally:
        changed = keras_state.changed_settings(before)
        if changed:
            keras_state.restore(before)
            raise _refusal(
                shown, None, "building the model changed Keras' process-wide settings ("
                + ", ".join(changed) + "); they were put back"
            )


def _build(config: dict, compile: bool, shown: str):
    """The model `config` describes, built by Keras in safe mode, as `keras.saving.load_model`
    does before it reads the weights."""
    import keras

    from kzoo.keras_private import object_sharing_scope

    if not compile:
        config = {**config, "compile_config": None}
    try:
        with object_sharing_scope():
            model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except RecursionError:
        raise _refusal(shown, CONFIG_FILE, "nests objects too deeply to build") from None
    except Exception as err:  # noqa: BLE001  Keras signals refusals and bad configs many ways
        raise _refusal(
            shown, CONFIG_FILE, f"Keras refused to build it in safe mode ({_first(err)})"
        ) from None
    if not isinstance(model, keras.Model):
        raise _refusal(shown, CONFIG_FILE, f"describes a {type(model).__name__}, not a model")
    if not model.built:
        raise _refusal(shown, CONFIG_FILE, "describes a model without inputs (not built)")
    return model


def _check_suffix(path) -> Path:
    path = Path(path)
    if path.suffix != ".keras":
        raise UnsafeModelFileError(f"`path` must name a .keras file; received path={str(path)!r}.")
    return path


def _open(path: Path) -> int:
    try:
        return keras_archive.open_regular_file(path)
    except ArchiveRefused as err:
        raise _refusal(str(path), None, err.rule) from None


def _read(fd: int, path: Path, weights_dir):
    try:
        return keras_archive.read_archive(fd, weights_dir)
    except ArchiveRefused as err:
        raise _refusal(str(path), err.member, err.rule) from None


def _config(data: bytes, metadata: bytes | None, shown: str, registered) -> dict:
    try:
        config = loads_bounded(
            data, max_bytes=keras_archive.MEMBER_CAPS[CONFIG_FILE], max_depth=MAX_CONFIG_DEPTH
        )
    except BoundedJSONError as err:
        raise _refusal(shown, CONFIG_FILE, str(err)) from None
    if not isinstance(config, dict):
        raise _refusal(shown, CONFIG_FILE, "is not a JSON object")
    if metadata is not None:
        try:
            info = loads_bounded(metadata, max_bytes=keras_archive.MEMBER_CAPS[METADATA_FILE])
        except BoundedJSONError as err:
            raise _refusal(shown, METADATA_FILE, str(err)) from None
        if not isinstance(info, dict):
            raise _refusal(shown, METADATA_FILE, "is not a JSON object")
    _refuse_entries(find_unsafe_entries(config, registered=registered), shown)
    return config


def _refuse_entries(problems: list[str], shown: str) -> None:
    if problems:
        raise UnsafeModelFileError(
            f"Refusing to load {shown!r}: its {CONFIG_FILE} names what a kzoo model may not "
            "(code outside the parts of a model, which loading could run). Offending entries:\n  "
            + "\n  ".join(problems)
        )


def _refusal(shown: str, member: str | None, rule: str) -> UnsafeModelFileError:
    where = f"{member} " if member else ""
    return UnsafeModelFileError(f"Refusing to load {shown!r}: {where}{rule}.")


def _first(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]


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


__all__ = [
    "CONFIG_FILE", "METADATA_FILE", "UnsafeModelFileError", "build_from_config",
    "find_unsafe_entries", "load_keras",
    "save_keras", "scan_keras_file",
]
