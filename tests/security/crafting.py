"""Hostile files made by hand: zip archives whose every header field is chosen, and their parts.

`zipfile` cannot write an archive that lies (a declared size smaller than the data, a wrong CRC, a
link entry, a thousand entries with one name...), so `write_zip` lays out the local headers, the
central directory and the end record itself (PKWARE APPNOTE 4.3).
"""

from __future__ import annotations

import bz2
import copy
import functools
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
STORED, DEFLATED, BZIP2 = 0, 8, 12
REGULAR = 0o100644 << 16
SYMLINK = 0o120777 << 16


@dataclass
class Member:
    name: str
    stored: bytes  # the bytes in the archive (compressed for DEFLATED/BZIP2)
    method: int
    size: int  # the declared uncompressed size
    crc: int
    attr: int = REGULAR
    flags: int = 0


def member(name, plain: bytes, *, method=STORED, size=None, crc=None, attr=REGULAR, flags=0):
    """A member holding `plain`; `size` and `crc` default to the truth."""
    if method == DEFLATED:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        stored = packer.compress(plain) + packer.flush()
    elif method == BZIP2:
        stored = bz2.compress(plain)
    else:
        stored = plain
    return Member(
        name, stored, method, len(plain) if size is None else size,
        zlib.crc32(plain) if crc is None else crc, attr, flags,
    )


@functools.lru_cache(maxsize=4)
def deflate_bomb(head: bytes, filler: bytes, total: int) -> bytes:
    """Raw deflate of `head` followed by `filler` repeated up to `total` bytes, made in chunks (the
    plain text never exists in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [packer.compress(head)]
    chunk = filler * ((1 << 20) // len(filler))
    left = total - len(head)
    while left > 0:
        piece = chunk[:left]
        out.append(packer.compress(piece))
        left -= len(piece)
    out.append(packer.flush())
    return b"".join(out)


def write_zip(path, members, *, truncate_to=None) -> None:
    """Write `members` as a zip archive, exactly as described (lies included)."""
    body, central = io.BytesIO(), io.BytesIO()
    for m in members:
        offset = body.tell()
        name = m.name.encode("utf-8")
        body.write(_LOCAL.pack(b"PK\x03\x04", 20, m.flags, m.method, 0, 0x21, m.crc,
                               len(m.stored), m.size, len(name), 0))
        body.write(name)
        body.write(m.stored)
        central.write(_CENTRAL.pack(b"PK\x01\x02", 0x0314, 20, m.flags, m.method, 0, 0x21, m.crc,
                                    len(m.stored), m.size, len(name), 0, 0, 0, 0, m.attr, offset))
        central.write(name)
    directory = central.getvalue()
    count = min(len(members), 0xFFFF)
    data = body.getvalue() + directory + _END.pack(
        b"PK\x05\x06", 0, 0, count, count, len(directory), body.tell(), 0
    )
    with open(path, "wb") as f:
        f.write(data if truncate_to is None else data[:truncate_to])


def read_parts(path) -> dict[str, bytes]:
    """The members of a genuine `.keras` file by name."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def keras_members(parts: dict[str, bytes], **replace) -> list[Member]:
    """Genuine members (stored), with `replace={"config.json": bytes}` swapped in."""
    merged = {**parts, **{k.replace("__", "."): v for k, v in replace.items()}}
    return [member(name, data) for name, data in merged.items()]


def with_config(parts: dict[str, bytes], edit) -> dict[str, bytes]:
    """`parts` with config.json changed by `edit(config_dict)` (which edits in place)."""
    config = json.loads(parts["config.json"])
    edit(config)
    return {**parts, "config.json": json.dumps(config).encode()}


def layers(config: dict) -> list[dict]:
    return config["config"]["layers"]


def dense(config: dict) -> dict:
    return next(layer for layer in layers(config) if layer["class_name"] == "Dense")


def function(module: str, name: str) -> dict:
    """How a Keras config names a function: an activation, a loss..."""
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def copy_parts(parts):
    return copy.deepcopy(parts)
