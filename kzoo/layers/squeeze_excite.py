"""Squeeze-and-Excitation channel attention (Hu et al. 2018)."""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._validation import check_positive_int


@keras.saving.register_keras_serializable(package="kzoo")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-Excitation: rescale each channel by a gate computed from all channels.

    s = sigmoid(W2 · relu(W1 · mean_{spatial}(x) + b1) + b2);  y = x · s (per channel).
    The bottleneck has `max(1, channels // ratio)` units, so even narrow inputs keep one unit.

    Args:
        ratio: reduction ratio r of the bottleneck (the paper's default 16). Positive integer.
        kernel_initializer: initializer of both Dense kernels.
        kernel_regularizer: optional regularizer of both Dense kernels (e.g. the papers' L2 decay).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> se = SqueezeExcite(ratio=16)
        >>> y = se(keras.random.normal((2, 8, 8, 64)))  # shape (2, 8, 8, 64)

    Reference:
        Hu, Shen, Sun. "Squeeze-and-Excitation Networks." CVPR 2018.
    """

    def __init__(
        self, ratio=16, kernel_initializer="glorot_uniform", kernel_regularizer=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.ratio = check_positive_int("ratio", ratio)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "SqueezeExcite expects inputs of rank >= 3 (batch, ..., channels); "
                f"received input_shape={tuple(input_shape)}."
            )
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("SqueezeExcite needs a known channel dimension; received None.")
        reduced = max(1, channels // self.ratio)
        self.reduce_kernel = self.add_weight(
            name="reduce_kernel",
            shape=(channels, reduced),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.reduce_bias = self.add_weight(name="reduce_bias", shape=(reduced,), initializer="zeros")
        self.expand_kernel = self.add_weight(
            name="expand_kernel",
            shape=(reduced, channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.expand_bias = self.add_weight(name="expand_bias", shape=(channels,), initializer="zeros")
        self._spatial_axes = tuple(range(1, len(input_shape) - 1))

    def call(self, inputs):
        squeezed = ops.mean(inputs, axis=self._spatial_axes)
        hidden = ops.relu(ops.matmul(squeezed, self.reduce_kernel) + self.reduce_bias)
        gate = ops.sigmoid(ops.matmul(hidden, self.expand_kernel) + self.expand_bias)
        for _ in self._spatial_axes:
            gate = ops.expand_dims(gate, axis=1)
        return inputs * gate

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
