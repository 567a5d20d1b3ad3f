"""Publish a fully written directory under its final name in one step.

A version is written into a hidden staging directory beside its final place and renamed only once it is
complete and verified, so readers (and TF Serving, which only looks at numeric names) never see a
partial version. The standard library has no "rename unless the target exists" nor "swap two
directories"; on Linux both are one `renameat2` call, used here through ctypes, with a portable
fallback elsewhere.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
STAGING_PREFIX = ".tmp-"


def _renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _renameat2()


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """True if renameat2 did it; False if unsupported here; OSError if it refused (e.g. EEXIST)."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # old kernel or a file system without the flag
    raise OSError(err, os.strerror(err), str(dst))


def make_staging_dir(parent: Path) -> Path:
    """A fresh hidden directory inside `parent` (same file system, so renames are atomic)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))


def fsync_tree(path: Path) -> None:
    """Flush every file and directory under `path` to disk before it is published."""
    for dirpath, _, filenames in os.walk(path):
        for filename in filenames:
            with open(os.path.join(dirpath, filename), "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_dir(staging: Path, target: Path, *, replace: bool = False) -> None:
    """Move the complete `staging` directory to `target`.

    Without `replace`, an existing `target` raises FileExistsError and is left alone. With `replace`,
    an existing `target` is swapped out only now that its successor is complete, then deleted.
    """
    if not replace:
        if not _rename2(staging, target, _RENAME_NOREPLACE):
            if target.exists():
                raise FileExistsError(errno.EEXIST, "already exists", str(target))
            os.rename(staging, target)
    elif not target.exists():
        publish_dir(staging, target, replace=False)
        return
    elif _rename2(staging, target, _RENAME_EXCHANGE):
        shutil.rmtree(staging)  # now holds the replaced version
    else:
        aside = target.with_name(f"{STAGING_PREFIX}old-{uuid.uuid4().hex}")
        os.rename(target, aside)
        os.rename(staging, target)
        shutil.rmtree(aside)
    _fsync_dir(target.parent)
