"""Highway layer (Srivastava, Greff, Schmidhuber 2015): a dense layer with a learned carry gate."""

from __future__ import annotations

import numbers

import keras
from keras import ops

from kzoo.layers._validation import check_activation, check_positive_int


@keras.saving.register_keras_serializable(package="kzoo")
class Highway(keras.layers.Layer):
    """Dense highway layer: y = T(x) * H(x) + (1 - T(x)) * x.

    H(x) = activation(x W_H + b_H) is the usual dense transform and T(x) = sigmoid(x W_T + b_T) the
    transform gate; 1 - T is the carry gate. Both come from ONE matmul: `kernel` has shape
    (units, 2 * units) and `bias` (2 * units,); the first `units` columns are H, the last `units`
    columns are T. The T half of the bias starts at `transform_bias_init` (negative), so a fresh
    layer mostly carries its input and a deep stack starts close to the identity.

    The input's last dimension must equal `units` (the carry path adds x to the output); project
    with a Dense layer first to change width.

    Args:
        units: width of the input and the output. Positive integer.
        activation: activation of H (name or callable), default "relu".
        transform_bias_init: initial value of b_T. The paper uses -1 to -3 (deeper nets, more
            negative); default -2.0.
        kernel_initializer: initializer of the (units, 2 * units) kernel.
        kernel_regularizer: regularizer applied to the kernel (both halves), or None.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> layer = Highway(64, transform_bias_init=-2.0)
        >>> x = keras.random.normal((8, 64))
        >>> y = layer(x)                   # shape (8, 64)
        >>> t = layer.transform_gate(x)    # gate activity T(x), shape (8, 64), values in (0, 1)

    Reference:
        Srivastava, Greff, Schmidhuber. "Training Very Deep Networks." NeurIPS 2015.
    """

    def __init__(
        self,
        units,
        activation="relu",
        transform_bias_init=-2.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.activation = check_activation("activation", activation)
        if isinstance(transform_bias_init, bool) or not isinstance(
            transform_bias_init, numbers.Real
        ):
            raise ValueError(
                "`transform_bias_init` must be a real number (the paper uses -1 to -3); "
                f"received transform_bias_init={transform_bias_init!r}."
            )
        self.transform_bias_init = float(transform_bias_init)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        width = input_shape[-1]
        if width != self.units:
            raise ValueError(
                f"Highway(units={self.units}) needs inputs whose last dimension equals units "
                f"(the carry path adds x to the output); received input width {width} "
                f"(input_shape={tuple(input_shape)}). Project to {self.units} features first."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.units, 2 * self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(
            name="bias", shape=(2 * self.units,), initializer=self._bias_initializer
        )

    def _bias_initializer(self, shape, dtype=None):
        # [b_H = 0, b_T = transform_bias_init]; a config-free callable, since the initial bias is
        # fully described by `transform_bias_init` and saved weights overwrite it on load.
        carry = ops.full((self.units,), self.transform_bias_init, dtype=dtype)
        return ops.concatenate([ops.zeros((self.units,), dtype=dtype), carry])

    def _pre_activations(self, inputs):
        # Casts are no-ops inside `call` (Keras autocasts variables there); they matter when
        # `transform_gate` is called directly under a mixed-precision policy.
        kernel = ops.cast(self.kernel, inputs.dtype)
        z = ops.matmul(inputs, kernel) + ops.cast(self.bias, inputs.dtype)
        return z[..., : self.units], z[..., self.units :]

    def call(self, inputs):
        h_pre, t_pre = self._pre_activations(inputs)
        transform = ops.sigmoid(t_pre)
        return transform * self.activation(h_pre) + (1.0 - transform) * inputs

    def transform_gate(self, inputs):
        """T(x) = sigmoid(x W_T + b_T), the fraction of H let through, for each unit of each example.

        Values near 0 mean the layer carries its input; the mean over a batch is the layer's gate
        activity. Builds the layer if needed.
        """
        inputs = ops.cast(inputs, self.compute_dtype)
        if not self.built:
            self.build(tuple(inputs.shape))
        _, t_pre = self._pre_activations(inputs)
        return ops.sigmoid(t_pre)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "transform_bias_init": self.transform_bias_init,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
