"""Read a `.keras` archive with every size bounded by what was actually read, never by what it declares.

A `.keras` file is a zip of `config.json`, `metadata.json` and `model.weights.h5`, nothing else. The
reader opens the file once (refusing anything but a regular file: a FIFO, `/dev/zero` or a directory
behind the name), reads the zip's end record itself to bound the central directory before `zipfile`
parses it, then inflates each member in small chunks, counting the bytes that really come out: a
member that inflates beyond its declared size or beyond kzoo's cap is refused after reading at most
the cap. `zipfile` alone trusts the declared size (it truncates output to it, after inflating up to
1 GiB in one call), so a copy of each member's ZipInfo with the declared size raised to the cap is
what gets opened. The members land in memory (the JSON) or in a private file (the weights), and
everything after this reads only those: the archive is read exactly once.
"""

from __future__ import annotations

import copy
import errno
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from kzoo.utils.files import storage_error

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
# What Keras writes for a model without assets; every kzoo model is one.
MEMBER_CAPS = {
    CONFIG_FILE: 16 << 20,
    METADATA_FILE: 1 << 20,
    WEIGHTS_FILE: 2 << 30,
}
MAX_ARCHIVE_BYTES = (2 << 30) + (32 << 20)
MAX_MEMBERS = len(MEMBER_CAPS)
# Bounds on what zipfile may parse: enough to name the member that does not belong, far below a
# directory of millions of entries.
MAX_LISTED_ENTRIES = 64
MAX_CENTRAL_DIRECTORY_BYTES = 1 << 20
_CHUNK = 1 << 20
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_MAX_COMMENT = 0xFFFF
_ALLOWED_COMPRESSION = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, NotImplementedError,
                RuntimeError)


class ArchiveRefused(ValueError):
    """The archive breaks a rule; `member` names the entry (or None for the file as a whole)."""

    def __init__(self, member: str | None, rule: str):
        self.member = member
        self.rule = rule
        super().__init__(f"{member}: {rule}" if member else rule)


@dataclass
class ArchiveContents:
    """The members of an accepted archive: the JSON as bytes, the weights as a private file."""

    config: bytes
    metadata: bytes | None
    weights: Path | None


def open_regular_file(path) -> int:
    """An fd of `path`, which must be a regular file; FIFOs, devices and directories are refused
    before a byte is read (O_NONBLOCK: opening a FIFO without a writer must not hang)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise ArchiveRefused(None, "is a directory, not a .keras file") from None
    except FileNotFoundError:
        raise
    except OSError as err:
        raise ArchiveRefused(None, f"cannot be opened ({err.strerror or err})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else (
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        )
        raise ArchiveRefused(None, f"is {kind}, not a regular .keras file; refusing to read it")
    return fd


def read_archive(fd: int, weights_dir: Path | None) -> ArchiveContents:
    """Check and read the archive open as `fd`; the weights go to `weights_dir/model.weights.h5`
    (with `weights_dir=None` they are read, checked and discarded). Raises ArchiveRefused."""
    size = os.fstat(fd).st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused(None, f"is {size:,} bytes, more than the {MAX_ARCHIVE_BYTES:,} kzoo reads")
    with os.fdopen(os.dup(fd), "rb") as f:
        _check_end_record(f, size)
        try:
            archive = zipfile.ZipFile(f)
        except (*_READ_ERRORS, OSError, ValueError) as err:
            raise ArchiveRefused(None, f"is not a readable zip archive ({_first_line(err)})") from None
        with archive:
            infos = _check_members(archive.infolist())
            data = {}
            for name, info in infos.items():
                if name != WEIGHTS_FILE:
                    data[name] = _inflate(archive, info, keep=True)
                else:
                    target = None if weights_dir is None else weights_dir / name
                    _inflate(archive, info, keep=False, target=target)
    return ArchiveContents(
        config=data[CONFIG_FILE],
        metadata=data.get(METADATA_FILE),
        weights=weights_dir / WEIGHTS_FILE if weights_dir is not None else None,
    )


def _check_end_record(f, size: int) -> None:
    # The same search as zipfile's: a record without a comment at the very end, else the last
    # signature in the final 64 KiB. It bounds what ZipFile() will parse before it parses it.
    if size < _EOCD.size:
        raise ArchiveRefused(None, "is not a zip archive (too short)")
    f.seek(max(0, size - _EOCD.size - _MAX_COMMENT))
    tail = f.read()
    pos = len(tail) - _EOCD.size
    if not (tail[pos:pos + 4] == _EOCD_SIGNATURE and tail[-2:] == b"\0\0"):
        pos = tail.rfind(_EOCD_SIGNATURE)
        if pos < 0 or pos + _EOCD.size > len(tail):
            raise ArchiveRefused(None, "is not a zip archive (no end of central directory record)")
    _, disk, cd_disk, entries_here, entries, cd_size, _, _ = _EOCD.unpack(tail[pos:pos + _EOCD.size])
    if pos >= 20 and tail[pos - 20:pos - 16] == _ZIP64_LOCATOR_SIGNATURE:
        raise ArchiveRefused(None, "uses ZIP64 records, which an archive of at most 2 GiB never needs")
    if disk or cd_disk or entries_here != entries:
        raise ArchiveRefused(None, "is a multi-disk zip archive")
    if entries > MAX_LISTED_ENTRIES or cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ArchiveRefused(
            None, f"declares {entries:,} entries in a {cd_size:,}-byte directory; a .keras file "
            f"holds at most {MAX_MEMBERS} ({', '.join(MEMBER_CAPS)})"
        )


def _check_members(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    found: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        if name not in MEMBER_CAPS:
            raise ArchiveRefused(
                name, f"is not a member of a .keras file (only {', '.join(MEMBER_CAPS)}: no paths, "
                "directories, links or assets)"
            )
        if name in found:
            raise ArchiveRefused(name, "appears twice in the archive")
        unix_type = stat.S_IFMT(info.external_attr >> 16)
        if unix_type not in (0, stat.S_IFREG):
            raise ArchiveRefused(name, "is recorded as a link or special file, not a regular file")
        if info.flag_bits & 0x1:
            raise ArchiveRefused(name, "is encrypted")
        if info.compress_type not in _ALLOWED_COMPRESSION:
            raise ArchiveRefused(
                name, f"uses compression method {info.compress_type}; only stored or deflated "
                "members are read"
            )
        if info.file_size > MEMBER_CAPS[name]:
            raise ArchiveRefused(
                name, f"declares {info.file_size:,} bytes, more than the {MEMBER_CAPS[name]:,} "
                "kzoo reads"
            )
        found[name] = info
    if len(infos) > MAX_MEMBERS:
        raise ArchiveRefused(None, f"holds {len(infos)} entries; a .keras file holds at most {MAX_MEMBERS}")
    for required in (CONFIG_FILE, WEIGHTS_FILE):
        if required not in found:
            raise ArchiveRefused(required, "is missing; not a .keras model file")
    return found


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, keep: bool, target: Path | None = None
) -> bytes | None:
    """The member's bytes if `keep`, written to `target` if given; refused as soon as more come out
    than it declares, and on any CRC or format error."""
    cap = MEMBER_CAPS[info.filename]
    declared = info.file_size
    unbounded = copy.copy(info)
    unbounded.file_size = cap + 1  # zipfile stops at file_size: let it run to the real end
    chunks, total = [], 0
    out = None
    try:
        if target is not None:
            out = open(target, "xb")
        with archive.open(unbounded) as member:
            while True:
                chunk = member.read(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total > declared:
                    limit = "its declared" if declared < cap else "the cap of"
                    raise ArchiveRefused(
                        info.filename, f"inflates to more than {limit} {min(declared, cap):,} "
                        f"bytes (stopped after reading {total:,})"
                    )
                if out is not None:
                    out.write(chunk)
                if keep:
                    chunks.append(chunk)
    except ArchiveRefused:
        raise
    except _READ_ERRORS as err:
        raise ArchiveRefused(info.filename, f"is damaged ({_first_line(err)})") from None
    except OSError as err:
        if target is not None and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise storage_error(err, target, what="unpack the weights to", needed=declared) from err
        raise ArchiveRefused(info.filename, f"cannot be read ({_first_line(err)})") from None
    finally:
        if out is not None:
            out.close()
    if total != declared:
        raise ArchiveRefused(
            info.filename, f"holds {total:,} bytes but declares {declared:,}; the archive is damaged"
        )
    return b"".join(chunks) if keep else None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
