"""Maxout units (Goodfellow et al. 2013): dense maxout and the channel (feature-map) form."""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._validation import check_positive_int


def _max_over_contiguous_groups(z, groups, pieces):
    """(..., groups * pieces) -> (..., groups): output i = max(z[..., i*pieces : (i+1)*pieces])."""
    shape = ops.shape(z)
    grouped = ops.reshape(z, (*shape[:-1], groups, pieces))
    return ops.max(grouped, axis=-1)


@keras.saving.register_keras_serializable(package="kzoo")
class Maxout(keras.layers.Layer):
    """Dense maxout layer: z_i = max_{j < pieces} (x W_ij + b_ij), for i < units.

    One matmul to `units * pieces` features, reshaped to (..., units, pieces), max over the last
    axis. Grouping is CONTIGUOUS: unit i takes columns i*pieces ... i*pieces + pieces - 1 of the
    matmul output (as in the paper's pylearn2 code with pool_stride == pool_size).

    This differs from tensorflow-addons' `tfa.layers.Maxout(num_units)`, a weight-free pooling
    layer which reshapes its C input channels to (..., C // num_units, num_units) and takes the max
    over axis -2, so its output i = max(x[..., i], x[..., i + num_units], x[..., i + 2*num_units],
    ...): STRIDED (interleaved) groups. `Dense(units * pieces)` + tfa `Maxout(units)` therefore
    equals this layer only after permuting the kernel columns (column j*units + i there is column
    i*pieces + j here). With freshly initialised weights the two are equally expressive; the order
    matters only when loading weights across implementations.

    Accepts inputs of any rank >= 2; the matmul acts on the last axis, like `keras.layers.Dense`.

    Args:
        units: number of maxout units (output width). Positive integer.
        pieces: number of linear pieces k per unit. Positive integer (the paper uses 2 to 5).
        use_bias: whether each piece has a bias b_ij.
        kernel_initializer: initializer of the (input_dim, units * pieces) kernel.
        kernel_regularizer: regularizer applied to the kernel, or None.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> layer = Maxout(units=240, pieces=5)
        >>> y = layer(keras.random.normal((32, 784)))  # shape (32, 240)

    Reference:
        Goodfellow, Warde-Farley, Mirza, Courville, Bengio. "Maxout Networks." ICML 2013.
    """

    def __init__(
        self,
        units,
        pieces,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.pieces = check_positive_int("pieces", pieces)
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be True or False; received use_bias={use_bias!r}.")
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "Maxout expects inputs of rank >= 2 with a known last dimension; "
                f"received input_shape={tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units * self.pieces),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units * self.pieces,), initializer="zeros"
            )

    def call(self, inputs):
        z = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            z = z + self.bias
        return _max_over_contiguous_groups(z, self.units, self.pieces)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "pieces": self.pieces,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kzoo")
class ChannelMaxout(keras.layers.Layer):
    """Feature-map maxout: max over contiguous groups of `pieces` channels of the last axis.

    Output channel i = max(x[..., i*pieces : (i+1)*pieces]); C channels become C // pieces. Put it
    after a convolution with `filters = units * pieces` to get the paper's convolutional maxout
    (without its spatial pooling). Works for any rank >= 2 (dense, sequence or image features).
    The grouping is contiguous, like `Maxout` (tensorflow-addons' `Maxout` uses strided groups; see
    `Maxout`).

    Args:
        pieces: channels per group (k in the paper). Positive integer; must divide the channels.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> x = keras.layers.Conv2D(96 * 2, 3, padding="same")(keras.Input((32, 32, 3)))
        >>> y = ChannelMaxout(pieces=2)(x)  # shape (None, 32, 32, 96)

    Reference:
        Goodfellow, Warde-Farley, Mirza, Courville, Bengio. "Maxout Networks." ICML 2013.
    """

    def __init__(self, pieces, **kwargs):
        super().__init__(**kwargs)
        self.pieces = check_positive_int("pieces", pieces)

    def _check_channels(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                "ChannelMaxout expects inputs of rank >= 2 (batch, ..., channels); "
                f"received input_shape={tuple(input_shape)}."
            )
        channels = input_shape[-1]
        if channels is None or channels % self.pieces:
            raise ValueError(
                f"ChannelMaxout(pieces={self.pieces}) needs a channel count divisible by `pieces`; "
                f"received {channels} channels (input_shape={tuple(input_shape)})."
            )
        return channels

    def build(self, input_shape):
        self._check_channels(input_shape)

    def call(self, inputs):
        channels = inputs.shape[-1]
        return _max_over_contiguous_groups(inputs, channels // self.pieces, self.pieces)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self._check_channels(input_shape) // self.pieces)

    def get_config(self):
        config = super().get_config()
        config["pieces"] = self.pieces
        return config
