"""NumPy references of the mobile blocks' pieces (NHWC, PyTorch padding: k // 2 on every side)."""

from __future__ import annotations

import numpy as np

from tests.numpy_reference import conv as reference_conv


def depthwise(x, w, stride=1):
    """A depthwise convolution with a Keras DepthwiseConv2D kernel of shape (k, k, C, 1)."""
    k, _, c, _ = w.shape
    return reference_conv(x, w.reshape(k, k, 1, c), stride, "symmetric", groups=c)


def bn(x, params, eps):
    gamma, beta, mean, var = params
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def relu(x):
    return np.maximum(x, 0.0)


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def randomize_bn(layer, rng):
    """Random gamma, beta and moving statistics of a built batch-norm layer; returns them."""
    c = layer.gamma.shape[0]
    values = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.3, c), rng.normal(0, 0.5, c),
              rng.uniform(0.5, 2.0, c)]
    layer.set_weights([v.astype("float32") for v in values])
    return values


def randomize(layer, rng, scale=0.3):
    """Random weights for a built layer without batch norm (conv, dense); returns them."""
    values = [rng.normal(0, scale, w.shape) for w in layer.get_weights()]
    layer.set_weights([v.astype("float32") for v in values])
    return values
