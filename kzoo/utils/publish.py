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
import stat
import tempfile
import uuid
from pathlib import Path

from kzoo.utils.errors import UserError
from kzoo.utils.files import current_umask, fsync_dir, fsync_tree  # noqa: F401  (fsync_tree: for publishers)

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


def _rename2(src, dst, flags: int, dir_fd: int | None = None) -> bool:
    """True if renameat2 did it; False if unsupported here; OSError if it refused (e.g. EEXIST).

    With `dir_fd`, `src` and `dst` are names inside that directory.
    """
    if _RENAMEAT2 is None:
        return False
    at = _AT_FDCWD if dir_fd is None else dir_fd
    if _RENAMEAT2(at, os.fsencode(src), at, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # old kernel or a file system without the flag
    raise OSError(err, os.strerror(err), str(dst))


def _lstat(path, dir_fd: int | None):
    try:
        return os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def make_staging_dir(parent: Path) -> Path:
    """A fresh hidden directory inside `parent` (same file system, so renames are atomic).

    Its name records this host and process (`staging_prefix`), for `remove_stale_staging_dirs`.
    """
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(), dir=parent))
    # mkdtemp makes 0700 directories; once published this one is a version a server (often
    # another user) reads, so it gets the usual permissions (0777 less the umask).
    os.chmod(staging, 0o777 & ~current_umask())
    return staging


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


def remove_stale_staging_dirs(parent: Path, *, dir_fd: int | None = None) -> list[Path]:
    """Delete the staging directories in `parent` that are provably abandoned; return them.

    A staging directory is abandoned when the process that made it (on this host and in this PID
    namespace, as its name records) no longer exists: it was killed before it could clean up. Any
    directory whose owner may still be running -- a live PID, one we may not signal, another host's
    or namespace's, or a name not made by `make_staging_dir` -- is left alone. (A recycled PID only
    makes a leftover look alive, so it is kept, never a live one deleted.) With `dir_fd` (`parent`
    opened as a directory), entries are found and deleted relative to it; links are never followed.
    """
    removed = []
    if os.name != "posix" or (dir_fd is None and not parent.is_dir()):
        return removed  # without POSIX signals there is no safe liveness check: keep everything
    host = _host_token()
    for entry in os.scandir(parent if dir_fd is None else dir_fd):
        match = _STAGING_RE.fullmatch(entry.name)
        if match is None or match["host"] != host or not entry.is_dir(follow_symlinks=False):
            continue
        if _process_exists(int(match["pid"])):
            continue
        # A concurrent exporter may be removing it too: errors are ignored, the result checked.
        if dir_fd is None:
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            shutil.rmtree(entry.name, ignore_errors=True, dir_fd=dir_fd)
        if _lstat(entry.name if dir_fd is not None else entry.path, dir_fd) is None:
            removed.append(Path(parent) / entry.name)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal is sent, only the existence check is made
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or not a PID we can judge: not provably gone
    return True


def publish_dir(staging, target, *, replace: bool = False, dir_fd: int | None = None) -> None:
    """Move the complete `staging` directory to `target`.

    Without `replace`, an existing `target` raises FileExistsError and is left alone. With `replace`,
    an existing `target` is swapped out only now that its successor is complete, then deleted. A
    `target` that is a symbolic link is never replaced (nor what it points to deleted). With `dir_fd`,
    `staging` and `target` are names inside that open directory, so no path is resolved again.
    """
    existing = _lstat(target, dir_fd)
    if existing is not None and stat.S_ISLNK(existing.st_mode):
        raise UserError(f"{str(target)!r} is a symbolic link; refusing to replace it")
    if existing is not None and replace and not stat.S_ISDIR(existing.st_mode):
        raise UserError(f"{str(target)!r} is not a directory; refusing to replace it")
    if not replace or existing is None:
        if not _rename2(staging, target, _RENAME_NOREPLACE, dir_fd):
            if _lstat(target, dir_fd) is not None:
                raise FileExistsError(errno.EEXIST, "already exists", str(target))
            os.rename(staging, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    elif _rename2(staging, target, _RENAME_EXCHANGE, dir_fd):
        _rmtree(staging, dir_fd)  # now holds the replaced version
    else:
        aside = f"{STAGING_PREFIX}old-{uuid.uuid4().hex}"
        if dir_fd is None:
            aside = str(Path(target).with_name(aside))
        os.rename(target, aside, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.rename(staging, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        _rmtree(aside, dir_fd)
    if dir_fd is None:
        fsync_dir(Path(target).parent)
    else:
        os.fsync(dir_fd)


def _rmtree(path, dir_fd: int | None) -> None:
    if dir_fd is None:
        shutil.rmtree(path)
    else:
        shutil.rmtree(path, dir_fd=dir_fd)
