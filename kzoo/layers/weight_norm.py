"""Weight-normalised dense layer (Salimans & Kingma 2016)."""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._validation import check_activation, check_positive_int

# Guards ||v|| = 0 (as tf.nn.l2_normalize does); far below any norm a trained kernel reaches.
_NORM_EPSILON = 1e-12


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
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be True or False; received use_bias={use_bias!r}.")
        self.use_bias = use_bias
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
        return ops.cast(ops.sqrt(ops.sum(ops.square(self.kernel), axis=0)), dtype)

    def effective_kernel(self):
        """w = g * v / ||v||, shape (input_dim, units)."""
        v = self.kernel
        inv_norm = ops.rsqrt(ops.maximum(ops.sum(ops.square(v), axis=0), _NORM_EPSILON))
        return v * (self.g * inv_norm)

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
