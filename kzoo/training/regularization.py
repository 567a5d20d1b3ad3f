"""Weight decay as an L2 penalty on every kernel, the way the ResNet / WRN / DenseNet papers train."""

from __future__ import annotations

import keras


def with_kernel_l2(model: keras.Model, weight_decay: float) -> keras.Model:
    """A copy of `model` (same weights) whose kernels carry L2(weight_decay / 2).

    The penalty weight_decay/2 * ||W||^2 has gradient weight_decay * W: the weight decay of
    Caffe/Torch SGD the papers report and of the lecture's C' = C + lambda/2 ||theta||^2. Every layer
    whose config has a `kernel_regularizer` key gets it (kzoo's composite blocks pass it on to their
    sub-layers); biases and normalisation parameters are not decayed.

    Args:
        model: a built functional or Sequential Keras model.
        weight_decay: lambda >= 0; 0 returns `model` unchanged.

    Example:
        >>> model = with_kernel_l2(kzoo.create_model("resnet20", classes=10), 1e-4)
        >>> float(sum(model.losses))  # 0.5e-4 * sum of squared kernels

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016, sec. 4.2.
    """
    if (
        isinstance(weight_decay, bool)
        or not isinstance(weight_decay, (int, float))
        or weight_decay < 0
    ):
        raise ValueError(
            f"`weight_decay` must be a number >= 0; received weight_decay={weight_decay!r}."
        )
    if weight_decay == 0:
        return model
    regularizer = keras.regularizers.L2(weight_decay / 2.0)

    def clone_layer(layer):
        config = layer.get_config()
        if "kernel_regularizer" in config:
            config["kernel_regularizer"] = keras.regularizers.serialize(regularizer)
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer, recursive=True)
    clone.set_weights(model.get_weights())
    return clone


def kernel_variables(model: keras.Model) -> list:
    """The trainable variables that are kernels (named "...kernel"), as L2 decay sees them."""
    return [v for v in model.trainable_variables if v.path.rsplit("/", 1)[-1].endswith("kernel")]
