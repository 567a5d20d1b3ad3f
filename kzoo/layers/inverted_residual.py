"""Inverted residual blocks with linear bottlenecks: MobileNet v2's block and EfficientNet's MBConv."""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._padding import conv_padding, pad_for_stride, padded_shape
from kzoo.layers._validation import (
    check_activation,
    check_choice,
    check_positive_int,
    check_rate,
)
from kzoo.layers.batch_norm import FusedBatchNormalization
from kzoo.layers.depthwise_separable import (
    BN_EPSILON,
    BN_MOMENTUM,
    check_momentum,
    check_number,
)
from kzoo.layers.stochastic_depth import StochasticDepth


@keras.saving.register_keras_serializable(package="kzoo")
class InvertedResidual(keras.layers.Layer):
    """Expand (1x1), filter (depthwise kxk), [SE], project (1x1, linear) + identity shortcut.

    MobileNet v2's block: a thin input is expanded `expansion` times, filtered per channel and
    projected back to a thin output with no activation after the projection (the "linear
    bottleneck": a ReLU there would destroy information in the low-dimensional space). The
    shortcut joins the thin ends when stride is 1 and the channel counts agree. EfficientNet's
    MBConv adds an SE gate and stochastic depth (see `MBConv`). Convolutions have no bias; a
    stride-2 depthwise convolution pads k // 2 on every side, as PyTorch.

    Args:
        filters: output channels (>= 1).
        expansion: expansion factor t > 0 (hidden channels = round(t * input channels)); with
            t = 1 there is no expansion convolution.
        stride: 1 or 2 (on the depthwise convolution).
        kernel_size: odd depthwise kernel size (3 in MobileNet v2; 3 or 5 in EfficientNet).
        activation: activation after the expansion and the depthwise convolution ("relu6").
        se_ratio: None, or the SE gate's bottleneck as a fraction of the block's INPUT channels
            (EfficientNet: 0.25; units = max(1, int(in_channels * se_ratio))); the gate acts on
            the expanded channels, with `activation` inside and a sigmoid out.
        drop_rate: stochastic-depth rate in [0, 1) of the residual branch (only with a shortcut).
        kernel_initializer: initializer of every kernel.
        kernel_regularizer: regularizer of the 1x1 and SE kernels.
        depthwise_regularizer: regularizer of the depthwise kernel (None by default).
        bn_momentum, bn_epsilon: BatchNorm settings (Keras convention).
        **kwargs: base `keras.layers.Layer` arguments.

    Example:
        >>> block = InvertedResidual(24, expansion=6, stride=2)
        >>> y = block(keras.random.normal((2, 112, 112, 16)))   # shape (2, 56, 56, 24)

    Reference:
        Sandler, Howard, Zhu, Zhmoginov, Chen. "MobileNetV2: Inverted Residuals and Linear
        Bottlenecks." CVPR 2018 (arXiv:1801.04381), Table 1 and Fig. 3.
    """

    def __init__(
        self,
        filters,
        expansion=6,
        stride=1,
        kernel_size=3,
        activation="relu6",
        se_ratio=None,
        drop_rate=0.0,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        depthwise_regularizer=None,
        bn_momentum=BN_MOMENTUM,
        bn_epsilon=BN_EPSILON,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.expansion = check_number("expansion", expansion)
        self.stride = check_choice("stride", stride, (1, 2))
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd; received kernel_size={kernel_size!r}.")
        self.activation = check_activation("activation", activation)
        if se_ratio is not None:
            se_ratio = check_number("se_ratio", se_ratio)
            if se_ratio > 1:
                raise ValueError(f"`se_ratio` must be in (0, 1] or None; received se_ratio={se_ratio!r}.")
        self.se_ratio = se_ratio
        self.drop_rate = check_rate("drop_rate", drop_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.depthwise_regularizer = keras.regularizers.get(depthwise_regularizer)
        self.bn_momentum = check_momentum(bn_momentum)
        self.bn_epsilon = check_number("bn_epsilon", bn_epsilon)
        # Sub-layers that depend on the input channels are made in `build`.
        self.expand_conv = self.expand_bn = self.se_reduce = self.se_expand = None
        self.stochastic_depth = None
        self.has_shortcut = False

    def _conv(self, filters, name):
        return keras.layers.Conv2D(
            filters,
            1,
            use_bias=False,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _bn(self, name):
        return FusedBatchNormalization(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon, dtype=self.dtype_policy, name=name
        )

    def _dense(self, units, activation, name):
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects (batch, height, width, channels) inputs with known "
                f"channels; received input_shape={input_shape}."
            )
        in_channels = input_shape[-1]
        hidden = max(1, int(round(in_channels * self.expansion)))
        shape = input_shape
        if self.expansion != 1:
            self.expand_conv = self._conv(hidden, "expand_conv")
            self.expand_conv.build(shape)
            shape = self.expand_conv.compute_output_shape(shape)
            self.expand_bn = self._bn("expand_bn")
            self.expand_bn.build(shape)
        self.depthwise = keras.layers.DepthwiseConv2D(
            self.kernel_size,
            strides=self.stride,
            padding=conv_padding(self.kernel_size, self.stride),
            use_bias=False,
            depthwise_initializer=fresh_initializer(self.kernel_initializer),
            depthwise_regularizer=self.depthwise_regularizer,
            dtype=self.dtype_policy,
            name="depthwise",
        )
        shape = padded_shape(shape, self.kernel_size, self.stride)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.depthwise_bn = self._bn("depthwise_bn")
        self.depthwise_bn.build(shape)
        if self.se_ratio is not None:
            units = max(1, int(in_channels * self.se_ratio))
            self.se_reduce = self._dense(units, self.activation, "se_reduce")
            self.se_reduce.build((input_shape[0], hidden))
            self.se_expand = self._dense(hidden, "sigmoid", "se_expand")
            self.se_expand.build((input_shape[0], units))
        self.project_conv = self._conv(self.filters, "project_conv")
        self.project_conv.build(shape)
        self.project_bn = self._bn("project_bn")
        self.project_bn.build(self.project_conv.compute_output_shape(shape))
        self.has_shortcut = self.stride == 1 and in_channels == self.filters
        if self.has_shortcut and self.drop_rate > 0:
            self.stochastic_depth = StochasticDepth(
                self.drop_rate, dtype=self.dtype_policy, name="stochastic_depth"
            )

    def call(self, inputs, training=None):
        h = inputs
        if self.expand_conv is not None:
            h = self.activation(self.expand_bn(self.expand_conv(h), training=training))
        h = self.depthwise(pad_for_stride(h, self.kernel_size, self.stride))
        h = self.activation(self.depthwise_bn(h, training=training))
        if self.se_reduce is not None:
            gate = self.se_expand(self.se_reduce(ops.mean(h, axis=(1, 2))))
            h = h * gate[:, None, None, :]
        h = self.project_bn(self.project_conv(h), training=training)
        if not self.has_shortcut:
            return h
        if self.stochastic_depth is not None:
            h = self.stochastic_depth(h, training=training)
        return inputs + h

    def compute_output_shape(self, input_shape):
        # Odd kernels padded k // 2 (symmetric or "same"): ceil(size / stride) either way.
        spatial = (None if d is None else -(-d // self.stride) for d in input_shape[1:3])
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "expansion": self.expansion,
                "stride": self.stride,
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
                "se_ratio": self.se_ratio,
                "drop_rate": self.drop_rate,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "depthwise_regularizer": keras.regularizers.serialize(self.depthwise_regularizer),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kzoo")
class MBConv(InvertedResidual):
    """EfficientNet's mobile inverted bottleneck: `InvertedResidual` with SE, SiLU and drop-path.

    The same block with the reference implementation's defaults: expansion 6, SiLU (swish)
    activations, an SE gate of max(1, int(0.25 * input channels)) units on the expanded channels,
    stochastic depth on the residual branch and BatchNorm momentum 0.99 / epsilon 1e-3. Every
    argument of `InvertedResidual` can still be given.

    Args:
        filters: output channels.
        expansion: expansion factor (1 in EfficientNet's first stage, 6 elsewhere).
        stride: 1 or 2.
        kernel_size: 3 or 5 in EfficientNet-B0's table.
        drop_rate: stochastic-depth rate of this block (EfficientNet raises it linearly with the
            block's index, up to 0.2).
        **kwargs: the other `InvertedResidual` arguments.

    Example:
        >>> block = MBConv(40, expansion=6, stride=2, kernel_size=5, drop_rate=0.05)
        >>> y = block(keras.random.normal((2, 56, 56, 24)))    # shape (2, 28, 28, 40)

    Reference:
        Tan, Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks."
        ICML 2019 (arXiv:1905.11946), Table 1; Sandler et al. 2018; Hu et al. 2018.
    """

    def __init__(
        self,
        filters,
        expansion=6,
        stride=1,
        kernel_size=3,
        activation="silu",
        se_ratio=0.25,
        drop_rate=0.0,
        bn_momentum=0.99,
        bn_epsilon=1e-3,
        **kwargs,
    ):
        super().__init__(
            filters,
            expansion=expansion,
            stride=stride,
            kernel_size=kernel_size,
            activation=activation,
            se_ratio=se_ratio,
            drop_rate=drop_rate,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            **kwargs,
        )
