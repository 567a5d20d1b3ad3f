"""Argument checks shared by kzoo layers and builders: each error names the argument and the value."""

from __future__ import annotations

import keras


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")
    return value


def check_rate(name: str, value) -> float:
    """A dropout-style rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a number in [0, 1); received {name}={value!r}.")
    return float(value)


def check_choice(name: str, value, choices) -> object:
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {valid}; received {name}={value!r}.")
    return value


def check_activation(name: str, value):
    """Resolve a Keras activation, turning Keras' own error into one that names the argument."""
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"`{name}` must be a Keras activation name or callable; received {name}={value!r}."
        ) from err
