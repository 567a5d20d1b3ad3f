"""JSON from files kzoo did not necessarily write: size, nesting depth and numbers bounded.

`json.loads` recurses once per nesting level, so a few kilobytes of `[[[[...` end in a
RecursionError deep inside the decoder; its size is unbounded; it turns `NaN`, `Infinity` and `1e999`
into floats that no later check expects. `loads_bounded` measures the nesting depth with a linear scan
before decoding and can refuse non-finite numbers while decoding.
"""

from __future__ import annotations

import json
import math
import re

MAX_DEPTH = 64


class BoundedJSONError(ValueError):
    """The bytes are not JSON kzoo accepts; the message says which rule they break."""


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes, stop_above: int | None = None) -> int:
    """The deepest nesting of `[` and `{` in `data`, brackets inside strings not counted.

    With `stop_above`, the count stops as soon as it exceeds that depth.
    """
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        else:
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BoundedJSONError(f"holds the non-finite number {text}")
    return value


def _no_constant(name: str):
    raise BoundedJSONError(f"holds the non-finite number {name}")


def loads_bounded(
    data: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH, finite: bool = False
):
    """Decode `data` as UTF-8 JSON, refusing more than `max_bytes`, deeper nesting than `max_depth`
    and (with `finite`) NaN, Infinity and numbers too large for a float.

    Raises:
        BoundedJSONError: naming the rule, e.g. "is nested 5000 levels deep (at most 64)".
    """
    if len(data) > max_bytes:
        raise BoundedJSONError(f"is larger than {max_bytes:,} bytes")
    depth = json_depth(data, stop_above=max_depth)
    if depth > max_depth:
        raise BoundedJSONError(f"is nested more than {max_depth} levels deep")
    hooks = {"parse_float": _finite, "parse_constant": _no_constant} if finite else {}
    try:
        return json.loads(data.decode("utf-8"), **hooks)
    except BoundedJSONError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BoundedJSONError(f"is not valid JSON ({first})") from err
