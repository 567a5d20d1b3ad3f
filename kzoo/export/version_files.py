"""The files of an exported version, found and read without following a link out of it.

A version directory is walked through open directory descriptors (`os.fwalk`) and each file opened
relative to its directory with O_NOFOLLOW: a symbolic link anywhere inside (a file, `variables/`,
`assets.extra/`) is reported, never read, and so are FIFOs, devices and sockets (reading a FIFO
would block). The version directory itself is the path the user gave, links and all.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILES = 10_000
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_HAS_FWALK = hasattr(os, "fwalk") and os.open in os.supports_dir_fd


@dataclass
class VersionFiles:
    """The sha256 of every regular file by POSIX relative path, and what could not be read."""

    checksums: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    special: list[str] = field(default_factory=list)
    truncated: bool = False

    def problems(self) -> list[str]:
        found = [f"symbolic link (not read): {rel}" for rel in self.links]
        found += [f"not a regular file (not read): {rel}" for rel in self.special]
        if self.truncated:
            found.append(f"more than {MAX_FILES} files (the rest not read)")
        return found


def sha256_fd(fd: int) -> str:
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb", closefd=False) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan_version(version_dir, *, skip: str | None = None, checksums: bool = True) -> VersionFiles:
    """Walk `version_dir` without following links; hash its regular files unless `checksums` is
    False. `skip` (a relative POSIX path) is left out, e.g. the metadata file itself."""
    result = VersionFiles()
    count = 0
    if _HAS_FWALK:
        walker = os.fwalk(version_dir, follow_symlinks=False)
    else:
        walker = ((d, ds, fs, None) for d, ds, fs in os.walk(version_dir, followlinks=False))
    for dirpath, dirnames, filenames, dirfd in walker:
        rel_dir = Path(dirpath).relative_to(version_dir)
        for name in sorted(dirnames + filenames):
            rel = (rel_dir / name).as_posix()
            info = os.stat(name, dir_fd=dirfd, follow_symlinks=False) if dirfd is not None else (
                os.lstat(os.path.join(dirpath, name))
            )
            if stat.S_ISDIR(info.st_mode):
                continue
            if stat.S_ISLNK(info.st_mode):
                result.links.append(rel)
                continue
            if not stat.S_ISREG(info.st_mode):
                result.special.append(rel)
                continue
            if rel == skip:
                continue
            count += 1
            if count > MAX_FILES:
                result.truncated = True
                return result
            if not checksums:
                result.checksums[rel] = ""
                continue
            fd = _open_file(name, dirfd, os.path.join(dirpath, name))
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    result.special.append(rel)
                    continue
                result.checksums[rel] = sha256_fd(fd)
            finally:
                os.close(fd)
    result.links.sort()
    result.special.sort()
    return result


def _open_file(name: str, dirfd: int | None, path: str) -> int:
    flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK
    return os.open(name, flags, dir_fd=dirfd) if dirfd is not None else os.open(path, flags)


class LinkInsideError(OSError):
    """A path component inside the version directory is a symbolic link."""


def open_inside(version_dir, rel: str) -> int | None:
    """An fd of the regular file `rel` (a POSIX relative path) inside `version_dir`, no component
    followed if it is a link; None if it does not exist. Raises LinkInsideError for a link and
    IsADirectoryError / OSError for anything that is not a regular file."""
    parts = rel.split("/")
    if os.open not in os.supports_dir_fd:  # check each component, then open the path
        for i in range(len(parts)):
            prefix = os.path.join(version_dir, *parts[: i + 1])
            if os.path.islink(prefix):
                raise LinkInsideError(errno.ELOOP, "is a symbolic link", "/".join(parts[: i + 1]))
        path = os.path.join(version_dir, *parts)
        if not os.path.lexists(path):
            return None
        fd = os.open(path, os.O_RDONLY)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file", rel)
        return fd
    fd = os.open(version_dir, os.O_RDONLY | _DIRECTORY)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | (_NONBLOCK if last else _DIRECTORY)
            try:
                child = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.EMLINK) or (
                    err.errno == errno.ENOTDIR and _is_link(part, fd)
                ):
                    raise LinkInsideError(
                        errno.ELOOP, "is a symbolic link", "/".join(parts[: i + 1])
                    ) from None
                raise
            os.close(fd)
            fd = child
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", rel)
        result, fd = fd, None
        return result
    finally:
        if fd is not None:
            os.close(fd)


def _is_link(name: str, dirfd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
    except OSError:
        return False
