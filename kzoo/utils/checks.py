"""Argument checks used across kzoo: each error names the argument and the value received.

The settings declarations (`kzoo.utils.settings`) run these for every declared field; layers,
builders and functions with plain keyword arguments call them directly.
"""

from __future__ import annotations

import math
import numbers

from kzoo.utils.errors import SettingError


def is_int(value) -> bool:
    """An integer that is not a bool (True is an int to Python, never to a user)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite real number that is not a bool."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def check_int(name: str, value, low: int | None = None, high: int | None = None, *, owner=None):
    """Return `value` if it is an integer in [low, high]; else raise SettingError naming `name`."""
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        if low == 1 and high is None:
            rule = "a positive integer"
        elif high is None:
            rule = f"an integer >= {low}" if low is not None else "an integer"
        else:
            rule = f"an integer in [{low}, {high}]"
        raise SettingError("{" + name + "} must be " + rule, names=(name,), value=value, owner=owner)
    return int(value)


def check_positive_int(name: str, value, *, owner=None) -> int:
    """Return `value` if it is an integer >= 1."""
    return check_int(name, value, 1, owner=owner)


def check_number(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    owner=None,
) -> float:
    """Return `value` if it is a finite number in the interval; else raise SettingError."""
    ok = is_number(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        raise SettingError(
            "{" + name + "} must be " + describe_interval(low, high, low_open, high_open),
            names=(name,),
            value=value,
            owner=owner,
        )
    return value


def describe_interval(low, high, low_open=False, high_open=False) -> str:
    """`"> 0"`, `"in [0, 1)"`, `">= 0"`, `"a number"`: how a user reads an interval."""
    if low == -math.inf and high == math.inf:
        return "a finite number"
    if high == math.inf:
        return f"{'>' if low_open else '>='} {_num(low)}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {_num(high)}"
    return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"


def check_rate(name: str, value, *, owner=None) -> float:
    """A dropout-style rate in [0, 1)."""
    return float(check_number(name, value, 0.0, 1.0, high_open=True, owner=owner))


def check_bool(name: str, value, *, owner=None) -> bool:
    """Return `value` if it is True or False."""
    if not isinstance(value, bool):
        raise SettingError(
            "{" + name + "} must be True or False", names=(name,), value=value, owner=owner
        )
    return value


def check_choice(name: str, value, choices, *, owner=None):
    """Return `value` if it is one of `choices`; the error lists them and the closest."""
    if value not in choices:
        import difflib

        shown = [c for c in choices if c is not None]
        close = difflib.get_close_matches(str(value), [str(c) for c in shown], n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]!r}?" if close and isinstance(value, str) else ""
        raise SettingError(
            "{" + name + "} must be one of " + ", ".join(str(c) for c in shown),
            names=(name,),
            value=value,
            owner=owner,
            hint=hint,
        )
    return value


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
