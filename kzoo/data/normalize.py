"""Per-channel / per-feature standardisation with statistics from the training part only."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# A constant channel or feature is left unscaled instead of divided by ~0.
_MIN_STD = 1e-7


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation over every axis but the last, in float64.

    For images and sequences the last axis is the channel, so the statistics pool all examples and
    positions (per-channel normalisation); for tabular data it is the feature axis.
    """
    channels = x.shape[-1]
    if x.dtype == np.uint8:
        # Exact statistics from a 256-bin histogram per channel: no float64 copy of the images
        # (CIFAR's training part would take 1.1 GB).
        values = np.arange(256, dtype=np.float64)
        counts = np.stack(
            [np.bincount(x[..., c].ravel(), minlength=256) for c in range(channels)]
        ).astype(np.float64)
        n = counts.sum(axis=1)
        mean = counts @ values / n
        std = np.sqrt((counts * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / n)
    else:
        flat = np.asarray(x, dtype=np.float64).reshape(-1, channels)
        mean, std = flat.mean(axis=0), flat.std(axis=0)
    std = np.where(std < _MIN_STD, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def standardize(x, mean: np.ndarray, std: np.ndarray) -> tf.Tensor:
    """(x - mean) / std in float32, broadcast over the last axis."""
    return (tf.cast(x, tf.float32) - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
