"""PyTorch-style symmetric padding for strided convolutions (shared by the mobile blocks).

Keras' "same" pads a stride-2 convolution on the bottom/right only; PyTorch and the papers'
frameworks pad k // 2 pixels on every side. Stride-1 odd kernels pad symmetrically either way.
"""

from __future__ import annotations

from keras import ops


def conv_padding(kernel_size: int, stride: int) -> str:
    """The Keras `padding` of a convolution that `pad_for_stride` prepares."""
    return "same" if kernel_size == 1 or stride == 1 else "valid"


def pad_for_stride(x, kernel_size: int, stride: int):
    """Pad `x` (NHWC) by kernel_size // 2 on every side if the convolution is strided."""
    if stride == 1 or kernel_size == 1:
        return x
    p = kernel_size // 2
    return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])


def padded_shape(shape, kernel_size: int, stride: int):
    """The shape `pad_for_stride` gives for an input of `shape`."""
    if stride == 1 or kernel_size == 1:
        return tuple(shape)
    p = kernel_size // 2
    return (shape[0], *(None if d is None else d + 2 * p for d in shape[1:3]), shape[3])
