"""Dense blocks and transition layers of DenseNet (Huang et al. 2017).

Both are composite layers: their convolutions and batch normalisations are sub-layers, so a DenseNet-BC
with hundreds of convolutions is a functional graph of a dozen nodes.

Batch normalisation uses the reference implementation's framework defaults (Torch: running-average
momentum 0.1, epsilon 1e-5), which in Keras terms is `momentum=0.9, epsilon=1e-5`. Convolutions have no
bias: each is followed, directly or after a concatenation, by batch normalisation.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._validation import check_positive_int, check_rate
from kzoo.layers.batch_norm import BN_EPSILON, BN_MOMENTUM, FusedBatchNormalization


def check_compression(value) -> float:
    """The transition compression factor theta in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(
            f"`compression` must be a number in (0, 1] (1.0 = no compression, DenseNet-BC uses 0.5); "
            f"received compression={value!r}."
        )
    return float(value)


def _check_image_shape(layer_name, input_shape):
    if len(input_shape) != 4:
        raise ValueError(
            f"{layer_name} expects 4D inputs (batch, height, width, channels); "
            f"received input_shape={tuple(input_shape)}."
        )
    if input_shape[-1] is None:
        raise ValueError(f"{layer_name} needs a known channel dimension; received None.")
    return int(input_shape[-1])


class _ConvBNLayer(keras.layers.Layer):
    """Shared factory of the sub-layers (no serialization of its own)."""

    def __init__(self, dropout, kernel_initializer, kernel_regularizer, **kwargs):
        super().__init__(**kwargs)
        self.dropout = check_rate("dropout", dropout)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        # One Dropout layer serves every position: it has no weights, only a seed generator.
        self.dropout_layer = (
            keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
            if self.dropout > 0
            else None
        )

    def _norm(self, name):
        return FusedBatchNormalization(
            axis=-1, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=self.dtype_policy, name=name
        )

    def _conv(self, filters, kernel_size, name):
        initializer = fresh_initializer(self.kernel_initializer)
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            padding="same",
            use_bias=False,
            data_format="channels_last",
            kernel_initializer=initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _drop(self, x, training):
        return x if self.dropout_layer is None else self.dropout_layer(x, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kzoo")
class DenseBlock(_ConvBNLayer):
    """A dense block: every composite function sees the concatenation of all earlier feature maps.

    Composite function H_l: BN-ReLU-Conv3x3(k), or with `bottleneck` BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k)
    (DenseNet-B). Its k new channels are concatenated to its input, so the block maps C channels to
    C + num_layers * k at the same spatial size.

    Args:
        num_layers: number of composite functions (positive integer).
        growth_rate: k, channels each composite function adds (positive integer).
        bottleneck: use the 1x1 bottleneck convolution to 4k channels.
        dropout: dropout rate after each convolution, in [0, 1) (the paper uses 0.2 on data without
            augmentation).
        kernel_initializer: initializer of every convolution kernel (He et al. 2015, as in the paper).
        kernel_regularizer: regularizer applied to every convolution kernel.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> block = DenseBlock(num_layers=16, growth_rate=12, bottleneck=True)
        >>> y = block(keras.random.normal((2, 32, 32, 24)))  # shape (2, 32, 32, 216)

    Reference:
        Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks." CVPR 2017.
    """

    def __init__(
        self,
        num_layers,
        growth_rate,
        bottleneck=False,
        dropout=0.0,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        check_positive_int("num_layers", num_layers)
        check_positive_int("growth_rate", growth_rate)
        if not isinstance(bottleneck, bool):
            raise ValueError(
                f"`bottleneck` must be True or False; received bottleneck={bottleneck!r}."
            )
        super().__init__(dropout, kernel_initializer, kernel_regularizer, **kwargs)
        self.num_layers = num_layers
        self.growth_rate = k = growth_rate
        self.bottleneck = bottleneck
        self.norms = [self._norm(f"layer{i + 1}_bn") for i in range(num_layers)]
        self.convs = [self._conv(k, 3, f"layer{i + 1}_conv") for i in range(num_layers)]
        self.bottleneck_convs = []
        self.bottleneck_norms = []
        if bottleneck:
            self.bottleneck_convs = [
                self._conv(4 * k, 1, f"layer{i + 1}_conv1x1") for i in range(num_layers)
            ]
            self.bottleneck_norms = [self._norm(f"layer{i + 1}_bn2") for i in range(num_layers)]

    def build(self, input_shape):
        channels = _check_image_shape("DenseBlock", input_shape)
        spatial = tuple(input_shape[:-1])
        for i in range(self.num_layers):
            self.norms[i].build(spatial + (channels,))
            conv_channels = channels
            if self.bottleneck:
                self.bottleneck_convs[i].build(spatial + (channels,))
                conv_channels = 4 * self.growth_rate
                self.bottleneck_norms[i].build(spatial + (conv_channels,))
            self.convs[i].build(spatial + (conv_channels,))
            channels += self.growth_rate

    def call(self, inputs, training=None):
        x = inputs
        for i in range(self.num_layers):
            y = ops.relu(self.norms[i](x, training=training))
            if self.bottleneck:
                y = self._drop(self.bottleneck_convs[i](y), training)
                y = ops.relu(self.bottleneck_norms[i](y, training=training))
            y = self._drop(self.convs[i](y), training)
            x = ops.concatenate([x, y], axis=-1)
        return x

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        out = None if channels is None else channels + self.num_layers * self.growth_rate
        return tuple(input_shape[:-1]) + (out,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "growth_rate": self.growth_rate,
                "bottleneck": self.bottleneck,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kzoo")
class TransitionBlock(_ConvBNLayer):
    """A transition layer between dense blocks: BN-ReLU-Conv1x1(floor(theta * C))-AvgPool2x2.

    Halves the spatial size (floor, like the reference's 2x2 average pooling) and, with compression
    theta < 1 (DenseNet-C), shrinks the channels from C to floor(theta * C).

    Args:
        compression: theta in (0, 1]; 1.0 keeps the channel count, DenseNet-BC uses 0.5.
        dropout: dropout rate after the convolution, in [0, 1).
        kernel_initializer: initializer of the convolution kernel.
        kernel_regularizer: regularizer of the convolution kernel.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> transition = TransitionBlock(compression=0.5)
        >>> y = transition(keras.random.normal((2, 32, 32, 216)))  # shape (2, 16, 16, 108)

    Reference:
        Huang, Liu, van der Maaten, Weinberger. "Densely Connected Convolutional Networks." CVPR 2017.
    """

    def __init__(
        self,
        compression=1.0,
        dropout=0.0,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        compression = check_compression(compression)
        super().__init__(dropout, kernel_initializer, kernel_regularizer, **kwargs)
        self.compression = compression
        self.norm = self._norm("bn")
        # The convolution's width depends on the input channels, so it is created in `build`.
        self.conv = None

    def _out_channels(self, channels):
        return math.floor(self.compression * channels)

    def build(self, input_shape):
        channels = _check_image_shape("TransitionBlock", input_shape)
        if any(d is not None and d < 2 for d in input_shape[1:3]):
            raise ValueError(
                "TransitionBlock halves the spatial size with 2x2 average pooling, so height and width "
                f"must be at least 2; received input_shape={tuple(input_shape)}."
            )
        filters = self._out_channels(channels)
        if filters < 1:
            raise ValueError(
                f"compression={self.compression} leaves no channel of the {channels} input channels; "
                "use a larger compression."
            )
        self.norm.build(tuple(input_shape))
        self.conv = self._conv(filters, 1, "conv")
        self.conv.build(tuple(input_shape))

    def call(self, inputs, training=None):
        x = ops.relu(self.norm(inputs, training=training))
        x = self._drop(self.conv(x), training)
        return ops.average_pool(x, 2, strides=2, padding="valid", data_format="channels_last")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        half = [None if d is None else d // 2 for d in (height, width)]
        out = None if channels is None else self._out_channels(channels)
        return (batch, half[0], half[1], out)

    def get_config(self):
        config = super().get_config()
        config["compression"] = self.compression
        return config
