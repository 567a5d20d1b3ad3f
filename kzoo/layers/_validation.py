"""Argument checks shared by kzoo layers and builders: each error names the argument and the value."""

from __future__ import annotations

import keras

# The checks every kzoo module shares (kzoo.utils.checks); layers use these names.
from kzoo.utils.checks import check_choice, check_positive_int, check_rate  # noqa: F401


def check_activation(name: str, value):
    """Resolve a Keras activation, turning Keras' own error into one that names the argument."""
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"`{name}` must be a Keras activation name or callable; received {name}={value!r}."
        ) from err
