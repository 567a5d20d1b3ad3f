"""One writer per folder: an advisory lock on run directories, search folders and export names.

The lock is the `filelock` package's `FileLock` (fcntl `flock` on POSIX): the kernel releases it
when its process dies, so a lock left by a killed process is taken over by the next one without
any clean-up. Beside the lock file the holder records its PID, host and start time, so a second
writer is refused in one line that says who holds the folder.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from kzoo.utils.errors import UserError

LOCK_FILE = ".kzoo.lock"
HOLDER_FILE = ".kzoo.lock.json"


class FolderBusyError(UserError):
    """Another process is writing the folder."""


@contextmanager
def folder_lock(folder, *, what: str = "folder"):
    """Hold the write lock of `folder` (created if missing) for the duration of the block.

    Args:
        folder: the directory to lock.
        what: how messages name it, e.g. "run directory".

    Raises:
        FolderBusyError: another live process holds the lock (naming its PID and host).

    Example:
        >>> with folder_lock("runs/quick", what="run directory"):
        ...     train_and_write_files()
    """
    import filelock

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (LOCK_FILE, HOLDER_FILE):
        if os.path.islink(folder / name):
            raise _link_error(folder / name, what)
    lock = filelock.FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise FolderBusyError(
            f"{what} {str(folder)!r} is in use by {_holder(folder)}; wait for it to finish or "
            "stop it, then rerun"
        ) from None
    except OSError as err:
        if err.errno == errno.ELOOP:  # filelock opens with O_NOFOLLOW: a link made since the check
            raise _link_error(folder / LOCK_FILE, what) from None
        raise
    try:
        _write_holder(folder)
        yield folder
    finally:
        try:
            (folder / HOLDER_FILE).unlink(missing_ok=True)
        except OSError:
            pass
        lock.release()


def _link_error(path: Path, what: str) -> UserError:
    return UserError(
        f"{str(path)!r} is a symbolic link; kzoo never writes its {what}'s lock through a link: "
        "remove it and rerun"
    )


def _write_holder(folder: Path) -> None:
    from kzoo.utils.files import atomic_write_json

    atomic_write_json(
        folder / HOLDER_FILE,
        {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    )


def _holder(folder: Path) -> str:
    try:
        with open(folder / HOLDER_FILE, "rb") as f:
            info = json.loads(f.read(4096))
        return f"process {int(info['pid'])} on {str(info['host'])[:64]} (since {str(info['since'])[:32]})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
