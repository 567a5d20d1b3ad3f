"""NumPy transcriptions of the operations kzoo's layers are built from, shared by their tests.

Written from the papers' and frameworks' definitions with plain loops and einsums, in float64, so
a test compares a layer with an independent computation, not with Keras again.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

BN_EPSILON = 1e-5  # kzoo's BatchNorm epsilon (PyTorch's default)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


def conv(x, w, strides=1, padding="valid", groups=1):
    """Channels-last 1-D or 2-D convolution without bias; `w` is (*kernel, C_in / groups, C_out).

    padding: "valid"; "same" as TensorFlow pads (an odd total puts the extra zero after);
    "symmetric": kernel // 2 zeros on every side, as PyTorch's `padding=k // 2` (the papers' nets).
    """
    rank = x.ndim - 2
    kernel = w.shape[:rank]
    strides = (strides,) * rank if isinstance(strides, int) else tuple(strides)
    if padding == "same":
        pads = []
        for n, k, s in zip(x.shape[1:-1], kernel, strides, strict=True):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
    elif padding == "symmetric":
        pads = [(k // 2, k // 2) for k in kernel]
    else:
        pads = [(0, 0)] * rank
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    windows = sliding_window_view(x, kernel, axis=tuple(range(1, rank + 1)))
    windows = windows[(slice(None), *(slice(None, None, s) for s in strides))]
    spec = {1: "blck,kcf->blf", 2: "bhwcij,ijcf->bhwf"}[rank]
    c_in, c_out = w.shape[-2], w.shape[-1] // groups
    parts = []
    for g in range(groups):
        channels = (slice(None),) * (rank + 1) + (slice(g * c_in, (g + 1) * c_in),)
        parts.append(np.einsum(spec, windows[channels], w[..., g * c_out : (g + 1) * c_out]))
    return np.concatenate(parts, axis=-1)


def batch_norm(x, gamma, beta, mean, var, epsilon=BN_EPSILON):
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta


def squeeze_excite(x, w1, b1, w2, b2):
    """Hu et al. 2018: global average pool, FC-ReLU, FC-sigmoid, rescale the channels."""
    h = relu(x.mean(axis=(1, 2)) @ w1 + b1)
    return x * sigmoid(h @ w2 + b2)[:, None, None, :]


def randomize_batch_norm(layer, rng):
    """Non-trivial gamma, beta and moving statistics for a built BatchNorm layer; returns them."""
    c = layer.gamma.shape[0]
    values = [
        rng.uniform(0.5, 1.5, c),
        rng.normal(0, 0.3, c),
        rng.normal(0, 0.5, c),
        rng.uniform(0.5, 2.0, c),
    ]
    layer.set_weights([v.astype("float32") for v in values])
    return values


def randomize_kernel(layer, rng, scale):
    """A random kernel for a built bias-free convolution; returns it."""
    w = rng.normal(0, scale, layer.kernel.shape)
    layer.set_weights([w.astype("float32")])
    return w
