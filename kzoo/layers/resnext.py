"""The ResNeXt block (Xie et al. 2017) whose output can be narrower than its grouped bottleneck."""

from __future__ import annotations

import keras

from kzoo.layers._validation import check_positive_int
from kzoo.layers.residual import _ResidualBlock


@keras.saving.register_keras_serializable(package="kzoo")
class ResNeXtBlock(_ResidualBlock):
    """Aggregated residual transformations: 1x1 (width), grouped 3x3 (width), 1x1 (out_channels).

    Form (c) of Xie et al.'s Fig. 3: `groups` (the cardinality C) parallel paths of d channels each
    are one grouped 3x3 convolution of width C*d. It is `BottleneckBlock` with two differences: the
    output width is free (the CIFAR ResNeXt-29 maps C*d = 512 or 1,024 channels to 256, narrower than
    the bottleneck), and the grouped convolution is a `GroupedConv2D` (TensorFlow's grouped kernel;
    Keras' Conv2D takes an XLA detour on CPU that made a small ResNeXt train ~45x slower). As `BottleneckBlock`:
    post- or pre-activation, the stride on the 3x3 convolution, shortcut "A" or "B" (1x1 projection
    where the shape changes, the paper's choice and this block's default), optional SE gate and
    dropout before the last convolution.

    Args:
        filters: width of the bottleneck, C*d (the 1x1 and grouped 3x3 convolutions), >= 1.
        out_channels: channels of the block's output (the last 1x1 convolution), >= 1.
        stride: 1 or 2 (on the grouped 3x3 convolution).
        groups: the cardinality C; must divide `filters`.
        preact: False (post-activation, as the paper) or True (pre-activation).
        shortcut: "B" (projection where the shape changes) or "A" (parameter-free).
        **kwargs: `se_ratio`, `dropout`, `kernel_initializer`, `kernel_regularizer` as in
            `BottleneckBlock`, and base `keras.layers.Layer` arguments.

    Example:
        >>> block = ResNeXtBlock(512, out_channels=256, groups=8)   # ResNeXt-29 8x64d, stage 1
        >>> y = block(keras.random.normal((2, 32, 32, 64)))          # shape (2, 32, 32, 256)

    Reference:
        Xie, Girshick, Dollar, Tu, He. "Aggregated Residual Transformations for Deep Neural
        Networks." CVPR 2017 (arXiv:1611.05431), Fig. 3(c) and Table 7.
    """

    def __init__(
        self, filters, out_channels, stride=1, groups=1, preact=False, shortcut="B", **kwargs
    ):
        # Set before the base class reads the branch specification.
        self.block_out_channels = check_positive_int("out_channels", out_channels)
        super().__init__(
            filters, stride=stride, preact=preact, shortcut=shortcut, groups=groups, **kwargs
        )

    def _branch_spec(self):
        return [
            (1, self.filters, 1, 1),
            (3, self.filters, self.stride, self.groups),
            (1, self.block_out_channels, 1, 1),
        ]

    def get_config(self):
        config = super().get_config()
        config["out_channels"] = self.block_out_channels
        return config
