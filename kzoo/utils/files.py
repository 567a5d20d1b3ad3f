"""Files kzoo writes and reads: atomic replacement, fsync, bounded JSON, storage faults as errors.

Every state file is written to a temporary sibling, flushed with fsync and renamed over its final
name, so a reader (or a process resumed after `kill -9`) sees the old file or the new one, never a
torn one. A write that fails for lack of space, a read-only file system, permissions or a quota
raises `StorageError` (a `UserError`: one line, no traceback) and leaves no partial file behind.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

from kzoo.utils.errors import UserError

# Failures of the storage, not of kzoo: reported in one line with what was being written.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
# JSON state files kzoo reads are small; a bigger one is not one of them.
MAX_JSON_BYTES = 16 << 20


class StorageError(UserError):
    """Writing a file failed because of the storage (full, read-only, no permission, quota)."""


def storage_error(err: OSError, path, what: str = "write", needed: int | None = None) -> StorageError:
    """A one-line `StorageError` for `err` (an OSError whose errno is in `STORAGE_ERRNOS`)."""
    reason = STORAGE_ERRNOS.get(err.errno, err.strerror or str(err))
    text = f"could not {what} {str(path)!r}: {reason}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        free = free_bytes(Path(path).parent)
        if needed is not None:
            text += f" (needed about {_size(needed)}"
            text += f", {_size(free)} free)" if free is not None else ")"
        elif free is not None:
            text += f" ({_size(free)} free)"
        text += "; free some space and rerun the same command"
    return StorageError(text)


def is_storage_fault(err: BaseException) -> bool:
    """True for an OSError that the storage caused (full disk, read-only, permissions, quota)."""
    return isinstance(err, OSError) and err.errno in STORAGE_ERRNOS


def free_bytes(path) -> int | None:
    """Bytes available to this user on the file system holding `path` (None if unknown)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one.

    The new file gets the usual permissions (0666 less the umask), is fsynced before the rename and
    the directory after it. A storage fault raises `StorageError`, leaving the old file intact.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        if is_storage_fault(err):
            raise storage_error(err, path, needed=len(data)) from err
        raise
    try:
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if is_storage_fault(err):
            raise storage_error(err, path, needed=len(data)) from err
        raise


def atomic_write_text(path, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, data) -> None:
    """`atomic_write_bytes` of indented JSON (NumPy values, paths and tuples converted)."""
    text = json.dumps(data, indent=2, sort_keys=False, default=to_json, allow_nan=True)
    atomic_write_text(path, text + "\n")


def atomic_save(path, save_fn, *, needed: int | None = None) -> None:
    """Call `save_fn(tmp_path)` on a temporary sibling of `path` (same suffixes), fsync, rename.

    Keras picks formats by suffix (`.keras`, `.weights.h5`), so the temporary name keeps them.
    `needed` (bytes, e.g. the size of the previous save) is checked against the free space first:
    HDF5 writers can crash the process on a full disk instead of raising.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if is_storage_fault(err):
            raise storage_error(err, path, needed=needed) from err
        raise
    if needed is not None:
        free = free_bytes(path.parent)
        if free is not None and free < needed:
            raise storage_error(OSError(errno.ENOSPC, "no space"), path, needed=needed)
    suffix = "".join(path.suffixes)
    tmp = path.parent / f".tmp-{os.getpid()}-{path.name[: -len(suffix) or None]}{suffix}"
    try:
        save_fn(str(tmp))
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if is_storage_fault(err):
            raise storage_error(err, path, needed=needed) from err
        raise


def fsync_file(path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path) -> None:
    """Flush a directory entry (a rename or a new file in it) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # some platforms cannot open directories; the rename itself is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path) -> None:
    """Flush every file and directory under `path` to disk (before it is published)."""
    for dirpath, _, filenames in os.walk(path):
        for filename in filenames:
            fsync_file(os.path.join(dirpath, filename))
        fsync_dir(dirpath)


def read_json(path, default=None, *, max_bytes: int = MAX_JSON_BYTES):
    """The JSON in `path`, or `default` if there is no such file.

    Refuses (UserError) a file larger than `max_bytes` or one that is not valid JSON, naming it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        return default
    if len(data) > max_bytes:
        raise UserError(f"{str(path)!r} is larger than {_size(max_bytes)}; not a kzoo state file.")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise UserError(f"{str(path)!r} is not valid JSON ({_first_line(err)}).") from err


def link_or_copy(src, dst) -> None:
    """Atomically make `dst` a copy of `src` (a hard link when the file system allows).

    Nothing is done when `dst` already is `src` (two links of one file): rename() between two links
    of one file does nothing, which would leave the temporary name behind.
    """
    try:
        a, b = os.lstat(src), os.lstat(dst)
        if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
            return
    except FileNotFoundError:
        pass
    tmp = f"{dst}.tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def to_json(value):
    """`json.dumps` default: NumPy arrays and scalars, paths, tuples; anything else as repr."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    return repr(value)


def current_umask() -> int:
    """The process umask (read by setting it and restoring it at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _first_line(err) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def shown_path(path) -> str:
    """`path` as a person reads it in a message: relative to the working directory when it lies
    inside it (`saved_models/m/1`), otherwise as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
