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
import hashlib
import os
import re
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

from kzoo.utils.files import fsync_dir, fsync_tree  # noqa: F401  (fsync_tree: for publishers)

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
STAGING_PREFIX = ".tmp-"
# `.tmp-<host>-<pid>-<random>`: who made a staging directory, so a later export can tell a dead
# exporter's leftover from a live one's work in progress.
_STAGING_RE = re.compile(re.escape(STAGING_PREFIX) + r"(?P<host>[0-9a-f]{8})-(?P<pid>[1-9][0-9]{0,9})-.+")


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
    """A fresh hidden directory inside `parent` (same file system, so renames are atomic).

    Its name records this host and process (`staging_prefix`), for `remove_stale_staging_dirs`.
    """
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=staging_prefix(), dir=parent))


def staging_prefix() -> str:
    """`.tmp-<host>-<pid>-`: the start of the names of this process's staging directories."""
    return f"{STAGING_PREFIX}{_host_token()}-{os.getpid()}-"


def _host_token() -> str:
    # A PID names a process only within one host and PID namespace; the export root may be shared
    # (network file system, container volume), so both are part of the name.
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:8]


def remove_stale_staging_dirs(parent: Path) -> list[Path]:
    """Delete the staging directories in `parent` that are provably abandoned; return them.

    A staging directory is abandoned when the process that made it (on this host and in this PID
    namespace, as its name records) no longer exists: it was killed before it could clean up. Any
    directory whose owner may still be running -- a live PID, one we may not signal, another host's
    or namespace's, or a name not made by `make_staging_dir` -- is left alone. (A recycled PID only
    makes a leftover look alive, so it is kept, never a live one deleted.)
    """
    removed = []
    if os.name != "posix" or not parent.is_dir():
        return removed  # without POSIX signals there is no safe liveness check: keep everything
    host = _host_token()
    for entry in os.scandir(parent):
        match = _STAGING_RE.fullmatch(entry.name)
        if match is None or match["host"] != host or not entry.is_dir(follow_symlinks=False):
            continue
        if _process_exists(int(match["pid"])):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)  # a concurrent exporter may be removing it too
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal is sent, only the existence check is made
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a PID we can judge: not provably gone
    return True






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
    fsync_dir(target.parent)
