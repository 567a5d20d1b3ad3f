"""MobileNet v1's depthwise-separable convolution block (Howard et al. 2017)."""

from __future__ import annotations

import keras

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._padding import conv_padding, pad_for_stride, padded_shape
from kzoo.layers._validation import check_activation, check_choice, check_positive_int
from kzoo.layers.batch_norm import FusedBatchNormalization

BN_MOMENTUM = 0.9  # PyTorch's momentum 0.1 in Keras' convention, as kzoo's residual blocks
BN_EPSILON = 1e-5


def check_number(name, value, low=0.0):
    """A real number > `low`; ValueError naming the argument otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
        raise ValueError(f"`{name}` must be a number > {low:g}; received {name}={value!r}.")
    return float(value)


def check_momentum(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`bn_momentum` must be a number in [0, 1); received bn_momentum={value!r}.")
    return float(value)


@keras.saving.register_keras_serializable(package="kzoo")
class DepthwiseSeparableBlock(keras.layers.Layer):
    """A 3x3 depthwise convolution-BN-activation, then a 1x1 pointwise convolution-BN-activation.

    The factorisation of a standard KxK convolution from C_in to C_out channels into one KxK
    filter per input channel and a 1x1 mixing: K*K*C_in + C_in*C_out multiply-adds per position
    instead of K*K*C_in*C_out (8-9x fewer for 3x3 at MobileNet's widths). Convolutions have no
    bias (BatchNorm follows); a stride-2 depthwise convolution pads k // 2 on every side.

    Args:
        filters: output channels of the pointwise convolution (>= 1).
        stride: 1, or 2 to halve height and width (on the depthwise convolution).
        kernel_size: odd size of the depthwise kernel (3 in MobileNet).
        activation: activation after each BatchNorm ("relu" as the paper; "relu6" as TF-slim).
        kernel_initializer: initializer of both kernels.
        kernel_regularizer: regularizer of the pointwise kernel.
        depthwise_regularizer: regularizer of the depthwise kernel; None by default, as the
            paper advises ("very little or no weight decay ... on the depthwise filters").
        bn_momentum, bn_epsilon: BatchNorm settings (Keras convention).
        **kwargs: base `keras.layers.Layer` arguments.

    Example:
        >>> block = DepthwiseSeparableBlock(128, stride=2)
        >>> y = block(keras.random.normal((2, 112, 112, 64)))   # shape (2, 56, 56, 128)

    Reference:
        Howard et al. "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
        Applications." 2017 (arXiv:1704.04861), Fig. 3 and Table 1.
    """

    def __init__(
        self,
        filters,
        stride=1,
        kernel_size=3,
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        depthwise_regularizer=None,
        bn_momentum=BN_MOMENTUM,
        bn_epsilon=BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.stride = check_choice("stride", stride, (1, 2))
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd; received kernel_size={kernel_size!r}.")
        self.activation = check_activation("activation", activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.depthwise_regularizer = keras.regularizers.get(depthwise_regularizer)
        self.bn_momentum = check_momentum(bn_momentum)
        self.bn_epsilon = check_number("bn_epsilon", bn_epsilon)
        policy = self.dtype_policy
        self.depthwise = keras.layers.DepthwiseConv2D(
            kernel_size,
            strides=stride,
            padding=conv_padding(kernel_size, stride),
            use_bias=False,
            depthwise_initializer=fresh_initializer(self.kernel_initializer),
            depthwise_regularizer=self.depthwise_regularizer,
            dtype=policy,
            name="depthwise",
        )
        self.pointwise = keras.layers.Conv2D(
            filters,
            1,
            use_bias=False,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=policy,
            name="pointwise",
        )
        self.depthwise_bn = self._bn("depthwise_bn")
        self.pointwise_bn = self._bn("pointwise_bn")

    def _bn(self, name):
        return FusedBatchNormalization(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon, dtype=self.dtype_policy, name=name
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "DepthwiseSeparableBlock expects (batch, height, width, channels) inputs with known "
                f"channels; received input_shape={input_shape}."
            )
        shape = padded_shape(input_shape, self.kernel_size, self.stride)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.depthwise_bn.build(shape)
        self.pointwise.build(shape)
        self.pointwise_bn.build(self.pointwise.compute_output_shape(shape))

    def call(self, inputs, training=None):
        h = self.depthwise(pad_for_stride(inputs, self.kernel_size, self.stride))
        h = self.activation(self.depthwise_bn(h, training=training))
        return self.activation(self.pointwise_bn(self.pointwise(h), training=training))

    def compute_output_shape(self, input_shape):
        # Odd kernels padded k // 2 (symmetric or "same"): ceil(size / stride) either way.
        spatial = (None if d is None else -(-d // self.stride) for d in input_shape[1:3])
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "stride": self.stride,
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "depthwise_regularizer": keras.regularizers.serialize(self.depthwise_regularizer),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config
