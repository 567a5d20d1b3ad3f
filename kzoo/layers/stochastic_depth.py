"""Stochastic depth (Huang et al. 2016): drop a residual branch for whole examples while training."""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._validation import check_rate


@keras.saving.register_keras_serializable(package="kzoo")
class StochasticDepth(keras.layers.Layer):
    """Zero a residual branch's output for a random subset of the examples, scale the rest.

    In training, each example's branch is kept with probability 1 - `rate` and then divided by
    1 - `rate`, so its expected value is unchanged; at inference the layer is the identity. Apply
    it to the branch, before the shortcut is added (EfficientNet's "drop connect"; torchvision's
    `StochasticDepth(p, "row")`). Keras has no such layer (`Dropout` drops units, not examples).

    Args:
        rate: probability in [0, 1) of dropping an example's branch.
        seed: optional integer seed of the layer's random draws.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:
        >>> branch = StochasticDepth(0.2)(branch, training=True)
        >>> outputs = inputs + branch

    Reference:
        Huang, Sun, Liu, Sedra, Weinberger. "Deep Networks with Stochastic Depth." ECCV 2016
        (arXiv:1603.09382); Tan & Le 2019 use it in EfficientNet.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None; received seed={seed!r}.")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(noise < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
