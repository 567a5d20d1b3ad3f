"""The raw values a model was trained on, and inputs checked against them before they are served.

A model trained on the UCI digits saw intensities 0..16; fed an ordinary 0..255 PNG of a "0" it
answers "4" with probability 1.0, and nothing says why. The training split's raw range (its smallest
and largest value: digits 0..16, CIFAR 0..255, MNIST-1D floats) travels with the run
(`normalization.json`) and the export (`kzoo_metadata.json`'s input spec), and an input outside it
is refused, or, when asked (`rescale`), mapped from its own range onto it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kzoo.utils.errors import UserError

# The ranges images and arrays conventionally hold, which `rescale` maps from.
_NOMINAL = {"uint8": (0, 255), "uint16": (0, 65535)}


class InputRangeError(UserError):
    """An input lies outside the range the model was trained on (or holds NaN / infinities)."""


@dataclass(frozen=True)
class InputSpec:
    """What a served model takes: `shape` (no batch axis), raw `dtype`, and `range` = (low, high),
    the raw values of its training split (None when not recorded)."""

    shape: tuple
    dtype: str
    range: tuple | None = None

    @classmethod
    def from_json(cls, spec: dict) -> InputSpec:
        """From a metadata input spec `{"shape": [None, ...], "dtype": ..., "range": [lo, hi]}`."""
        value_range = spec.get("range")
        return cls(tuple(spec["shape"][1:]), spec["dtype"],
                   tuple(value_range) if value_range is not None else None)


def check_range(value_range, dtype: str, arg: str = "raw_range") -> tuple | None:
    """`value_range` as `(low, high)` (ints for an integer dtype), or ValueError naming `arg`."""
    if value_range is None:
        return None
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"`{arg}` must be two finite numbers, low <= high; received "
                         f"{arg}={value_range!r}.")
    kind = np.dtype(dtype)
    if kind.kind in "ui":
        info = np.iinfo(kind)
        if not (low.is_integer() and high.is_integer() and info.min <= low and high <= info.max):
            raise ValueError(f"`{arg}` must be whole numbers within {dtype}'s {info.min}..{info.max};"
                             f" received {arg}={value_range!r}.")
        return int(low), int(high)
    return low, high


def show_range(value_range) -> str:
    """`0..16`, `-5.479..4.534`."""
    low, high = value_range
    return f"{_number(low)}..{_number(high)}"


def _number(v) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.4g}"


def source_range(x: np.ndarray) -> tuple[tuple, str]:
    """The range `rescale` maps from, and how it was chosen: an 8- or 16-bit array's full range
    (0..255 images), floats within [0, 1] as [0, 1], anything else its own min..max."""
    if x.dtype.name in _NOMINAL:
        return _NOMINAL[x.dtype.name], x.dtype.name
    low, high = float(np.min(x)), float(np.max(x))
    if x.dtype.kind == "f" and 0.0 <= low and high <= 1.0:
        return (0, 1), "floats in [0, 1]"
    return (low, high), "its own minimum and maximum"


def prepare_inputs(x, spec: InputSpec, source: str, *, rescale: bool = False,
                   notes: list | None = None) -> np.ndarray:
    """A batch of plain numbers (already of `spec.shape`) as `spec.dtype`, within `spec.range`.

    With `rescale`, the input's own range (`source_range`) is first mapped linearly onto
    `spec.range`. Values outside the range are refused (`InputRangeError`, saying the range and
    suggesting rescale); floats for an integer dtype are rounded to whole numbers. What was done
    implicitly is appended to `notes` as one line per input.
    """
    x = np.asarray(x)
    if spec.range is None:
        raise ValueError("`spec.range` is None: use check_inputs for a model without a range.")
    low, high = spec.range
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise InputRangeError(f"{source}: holds NaN or infinite values")
    if x.size == 0:
        return x.astype(spec.dtype)
    if rescale:
        (a, b), how = source_range(x)
        scale = 0.0 if b == a else (high - low) / (b - a)
        x = np.clip(low + (x.astype(np.float64) - a) * scale, low, high)
        if notes is not None:
            notes.append(("rescale", source, f"--rescale mapped {show_range((a, b))} ({how}) onto "
                          f"{show_range(spec.range)}, the range the model was trained on"))
    found = (float(np.min(x)), float(np.max(x)))
    if found[0] < low or found[1] > high:
        raise InputRangeError(
            f"{source}: values {show_range(found)} lie outside {show_range(spec.range)}, the raw "
            f"range ({spec.dtype}) the model was trained on; pass --rescale (rescale=True) to map "
            f"the input's own range (e.g. 0..255 for 8-bit images) onto {show_range(spec.range)}, "
            "or give inputs in that range"
        )
    target = np.dtype(spec.dtype)
    if target.kind in "ui" and x.dtype.kind == "f":
        whole = np.rint(x)
        changed = int(np.count_nonzero(whole != x))
        if changed and not rescale and notes is not None:
            notes.append(("round", source, f"rounded {changed} values to whole numbers: the model "
                          f"takes {spec.dtype}"))
        x = whole
    return x.astype(target)
