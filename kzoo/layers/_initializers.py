"""Fresh initializer copies for layers that share one user-given initializer."""

from __future__ import annotations

import keras


def fresh_initializer(initializer):
    """A new instance of `initializer` with its own random draw.

    A Keras random initializer created without a seed picks one at construction and returns the same
    values on every call, so handing one instance to several equal-shaped layers would start them
    identical. A copy made from its config (which keeps the user's seed, if any) draws anew.
    """
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())
