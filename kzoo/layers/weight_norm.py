"""Weight-normalised dense and convolution layers (Salimans & Kingma 2016)."""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._validation import check_activation, check_choice, check_positive_int

# Guards ||v|| = 0 (as tf.nn.l2_normalize does); far below any norm a trained kernel reaches.
_NORM_EPSILON = 1e-12


def _norms(v, axes):
    """||v|| per output unit: the L2 norm over `axes` (every kernel axis but the last)."""
    return ops.sqrt(ops.sum(ops.square(v), axis=axes))


def _weight_norm(v, g, axes):
    """w = g * v / ||v||, the norm over `axes`."""
    inv_norm = ops.rsqrt(ops.maximum(ops.sum(ops.square(v), axis=axes), _NORM_EPSILON))
    return v * (g * inv_norm)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; received {name}={value!r}.")
    return value


@keras.saving.register_keras_serializable(package="kzoo")
class WeightNormDense(keras.layers.Layer):
    """Dense layer with weight normalisation: w = g * v / ||v||, the norm taken per output unit.

    y = activation(x w + b). The kernel is reparameterised into a direction `kernel` v of shape
    (input_dim, units) and a length `g` of shape (units,), so a gradient step changes the scale
    of each unit's weight vector through g alone. At build, g is set to ||v|| (column norms), so
    the initial effective kernel w equals v as drawn by `kernel_initializer`. The paper's optional
    data-dependent initialisation (g and b from the statistics of a first minibatch) is not done.

    Keras 3 has no weight normalisation (tensorflow-addons' `WeightNormalization` wrapper targets
    Keras 2), hence this layer, the dense case written against `keras.ops`.

    Args:
        units: output width. Positive integer.
        activation: activation (name or callable), default None (linear).
        use_bias: whether to add a bias b.
        kernel_initializer: initializer of the direction v (and so of the initial w).
        kernel_regularizer: regularizer applied to the direction v (the stored `kernel`), or None.
            w does not depend on ||v||, but ||v|| sets the effective step size (the gradient on v
            scales as 1 / ||v||), which is what weight decay on v controls. g is not regularized.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> layer = WeightNormDense(128, activation="relu")
        >>> y = layer(keras.random.normal((16, 40)))  # shape (16, 128)

    Reference:
        Salimans, Kingma. "Weight Normalization: A Simple Reparameterization to Accelerate
        Training of Deep Neural Networks." NeurIPS 2016.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.activation = check_activation("activation", activation)
        self.use_bias = _check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                "WeightNormDense expects inputs of rank >= 2 with a known last dimension; "
                f"received input_shape={tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.g = self.add_weight(name="g", shape=(self.units,), initializer=self._g_initializer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def _g_initializer(self, shape, dtype=None):
        # g = ||v|| per unit, so the initial w equals v; saved weights overwrite it on load.
        return ops.cast(_norms(self.kernel, 0), dtype)

    def effective_kernel(self):
        """w = g * v / ||v||, shape (input_dim, units)."""
        return _weight_norm(self.kernel, self.g, 0)

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.effective_kernel())
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


def _check_int_tuple(name, value, rank):
    """A positive int or a tuple/list of `rank` positive ints, returned as a `rank`-tuple."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    if len(values) != rank or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise ValueError(
            f"`{name}` must be a positive integer or a tuple of {rank} positive integers; "
            f"received {name}={value!r}."
        )
    return values


class _WeightNormConv(keras.layers.Layer):
    """Shared body of `WeightNormConv1D` / `WeightNormConv2D`; subclasses set `rank`."""

    rank = None

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = _check_int_tuple("kernel_size", kernel_size, self.rank)
        self.strides = _check_int_tuple("strides", strides, self.rank)
        self.padding = check_choice("padding", padding, ("valid", "same"))
        self.activation = check_activation("activation", activation)
        self.use_bias = _check_bool("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        # ||v|| per filter: over the kernel's spatial axes and its input channels.
        self._norm_axes = tuple(range(self.rank + 1))

    def build(self, input_shape):
        name = type(self).__name__
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(
                f"{name} expects channels_last inputs of rank {self.rank + 2} with a known channel "
                f"dimension; received input_shape={tuple(input_shape)}."
            )
        self.compute_output_shape(input_shape)  # refuses inputs smaller than a "valid" kernel
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, input_shape[-1], self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.g = self.add_weight(name="g", shape=(self.filters,), initializer=self._g_initializer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def _g_initializer(self, shape, dtype=None):
        # g = ||v|| per filter, so the initial w equals v; saved weights overwrite it on load.
        return ops.cast(_norms(self.kernel, self._norm_axes), dtype)

    def effective_kernel(self):
        """w = g * v / ||v||, shape (*kernel_size, input_channels, filters)."""
        return _weight_norm(self.kernel, self.g, self._norm_axes)

    def call(self, inputs):
        outputs = ops.conv(
            inputs,
            self.effective_kernel(),
            strides=self.strides,
            padding=self.padding,
            data_format="channels_last",
        )
        if self.bias is not None:
            outputs = outputs + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, k, s in zip(input_shape[1:-1], self.kernel_size, self.strides, strict=True):
            if size is None:
                spatial.append(None)
            elif self.padding == "same":
                spatial.append(-(-size // s))
            elif size < k:
                raise ValueError(
                    f"{type(self).__name__} with padding='valid' needs inputs at least as large as "
                    f"kernel_size={self.kernel_size}; received input_shape={tuple(input_shape)}."
                )
            else:
                spatial.append((size - k) // s + 1)
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


_CONV_ARGS_DOC = """
    Args:
        filters: number of output channels. Positive integer.
        kernel_size: positive integer or tuple of {rank} positive integers.
        strides: positive integer or tuple of {rank} positive integers.
        padding: "valid" (no padding) or "same" (output size ceil(input / stride); with stride > 1
            the extra padding goes after, as in `keras.layers.Conv{rank}D`).
        activation: activation (name or callable), default None (linear).
        use_bias: whether to add a bias b per filter.
        kernel_initializer: initializer of the direction v (and so of the initial w).
        kernel_regularizer: regularizer applied to the direction v (the stored `kernel`), or None;
            see `WeightNormDense`. g is not regularized.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).
"""


@keras.saving.register_keras_serializable(package="kzoo")
class WeightNormConv1D(_WeightNormConv):
    __doc__ = """1D convolution with weight normalisation: w = g * v / ||v||, the norm per filter.

    y = activation(conv(x, w) + b) on channels_last inputs (batch, length, channels). The kernel v
    has shape (kernel_size, channels, filters); ||v|| of filter j is taken over its kernel positions
    and input channels, so g (shape (filters,)) alone sets each filter's scale. At build g = ||v||,
    so the initial w equals v. No data-dependent initialisation, as in `WeightNormDense`.
""" + _CONV_ARGS_DOC.format(rank=1) + """
    Example:
        >>> layer = WeightNormConv1D(16, 3, padding="same", activation="relu")
        >>> y = layer(keras.random.normal((8, 40, 1)))  # shape (8, 40, 16)

    Reference:
        Salimans, Kingma. "Weight Normalization: A Simple Reparameterization to Accelerate
        Training of Deep Neural Networks." NeurIPS 2016 (Section 2: w = g v / ||v|| for the
        weights of each output unit, convolutional filters included).
    """

    rank = 1


@keras.saving.register_keras_serializable(package="kzoo")
class WeightNormConv2D(_WeightNormConv):
    __doc__ = """2D convolution with weight normalisation: w = g * v / ||v||, the norm per filter.

    y = activation(conv(x, w) + b) on channels_last inputs (batch, height, width, channels). The
    kernel v has shape (kh, kw, channels, filters); ||v|| of filter j is taken over its kh x kw
    positions and input channels, so g (shape (filters,)) alone sets each filter's scale. At build
    g = ||v||, so the initial w equals v. No data-dependent initialisation, as in `WeightNormDense`.
""" + _CONV_ARGS_DOC.format(rank=2) + """
    Example:
        >>> layer = WeightNormConv2D(32, 3, strides=2, padding="same")
        >>> y = layer(keras.random.normal((8, 32, 32, 3)))  # shape (8, 16, 16, 32)

    Reference:
        Salimans, Kingma. "Weight Normalization: A Simple Reparameterization to Accelerate
        Training of Deep Neural Networks." NeurIPS 2016 (Section 2; the CIFAR-10 experiments of
        Section 5.1 weight-normalise every convolution).
    """

    rank = 2
