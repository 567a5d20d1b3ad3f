"""Residual blocks (He et al. 2015, 2016) as composite layers.

Each block is one Keras layer that owns its convolutions, so a ResNet-1202 is a graph of ~600 nodes
instead of ~3,000 (a flat functional graph that deep exceeds Python's recursion limit in Keras).

Conventions shared by every block (channels_last):
- convolutions have no bias; 3x3 convolutions pad 1 pixel on every side (PyTorch/Torch style, so a
  stride-2 convolution samples rows 0, 2, 4, ... exactly like the papers' frameworks);
- BatchNorm uses the papers' Torch/PyTorch settings: momentum 0.1 in Torch's convention (the running
  average keeps 0.9 of its old value -> Keras ``momentum=0.9``) and ``epsilon=1e-5``;
- shortcut "A" (CIFAR paper): identity, or stride-2 subsampling x[:, ::2, ::2] with zero channels
  appended (Torch's fb.resnet.torch layout) -- no parameters; shortcut "B": identity, or a 1x1 projection
  (+ BatchNorm in v1) only where the shape changes.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._validation import check_choice, check_positive_int, check_rate
from kzoo.layers.batch_norm import batch_norm, conv_then_norm
from kzoo.layers.grouped_conv import GroupedConv2D
from kzoo.layers.squeeze_excite import SqueezeExcite


class _ResidualBlock(keras.layers.Layer):
    """Shared machinery: argument checks, shortcut, SE, the v1/v2 forward passes.

    Subclasses define `_branch_spec()`: the residual branch's convolutions as
    `(kernel_size, filters, stride, groups)` tuples, in order.
    """

    def __init__(
        self,
        filters,
        stride=1,
        preact=False,
        shortcut="A",
        se_ratio=None,
        dropout=0.0,
        groups=1,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.stride = check_choice("stride", stride, (1, 2))
        if not isinstance(preact, bool):
            raise ValueError(f"`preact` must be True or False; received preact={preact!r}.")
        self.preact = preact
        self.shortcut = check_choice("shortcut", shortcut, ("A", "B"))
        if se_ratio is not None:
            check_positive_int("se_ratio", se_ratio)
        self.se_ratio = se_ratio
        self.dropout = check_rate("dropout", dropout)
        self.groups = check_positive_int("groups", groups)
        if filters % groups:
            raise ValueError(
                f"`groups` must divide `filters`; received groups={groups!r} with filters={filters!r}."
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

        # (kernel_size, filters, stride, groups) of each convolution on the residual branch.
        self._conv_specs = self._branch_spec()
        self.convs = [
            self._conv(f, k, s, g, name=f"conv{i + 1}")
            for i, (k, f, s, g) in enumerate(self._conv_specs)
        ]
        # v1: BN after every conv; v2: BN before every conv (the final BN-ReLU belongs to the model).
        # Sub-layers take the block's dtype policy: a block saved under a mixed policy must load
        # as mixed even where the global policy is float32 (as `kzoo export` runs).
        self.bns = [batch_norm(f"bn{i + 1}", self.dtype_policy) for i in range(len(self.convs))]
        self.dropout_layer = (
            keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")
            if self.dropout
            else None
        )
        self.se = (
            SqueezeExcite(
                ratio=se_ratio,
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name="se",
            )
            if se_ratio is not None
            else None
        )
        self.shortcut_conv = None
        self.shortcut_bn = None

    @property
    def out_channels(self):
        return self._conv_specs[-1][1]

    def _conv(self, filters, kernel_size, stride, groups, name):
        # Stride-2 3x3 convs get explicit symmetric padding in `call`; "same" would pad bottom/right only.
        padding = "same" if kernel_size == 1 or stride == 1 else "valid"
        # Grouped convolutions through TensorFlow's own kernel (GroupedConv2D), not Keras' XLA path.
        conv_class = GroupedConv2D if groups > 1 else keras.layers.Conv2D
        return conv_class(
            filters,
            kernel_size,
            strides=stride,
            padding=padding,
            groups=groups,
            use_bias=False,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _needs_projection(self, in_channels):
        return self.stride != 1 or in_channels != self.out_channels

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects (batch, height, width, channels) inputs with known "
                f"channels; received input_shape={input_shape}."
            )
        in_channels = input_shape[-1]
        first_groups = self._conv_specs[0][3]
        if in_channels % first_groups:
            raise ValueError(
                f"`groups` must divide the input channels; received groups={first_groups} with "
                f"{in_channels} input channels."
            )
        if self.shortcut == "A" and in_channels > self.out_channels:
            raise ValueError(
                f"shortcut='A' can only add zero channels: input has {in_channels} channels but the "
                f"block outputs {self.out_channels}; use shortcut='B'."
            )
        shape = input_shape
        for conv, bn, (k, _, s, _) in zip(self.convs, self.bns, self._conv_specs, strict=True):
            if self.preact:
                bn.build(shape)
            if s == 2 and k > 1:
                shape = _pad_shape(shape, k // 2)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if not self.preact:
                bn.build(shape)
        if self.se is not None:
            self.se.build(shape)
        if self.shortcut == "B" and self._needs_projection(in_channels):
            self.shortcut_conv = self._conv(self.out_channels, 1, self.stride, 1, "shortcut_conv")
            self.shortcut_conv.build(input_shape)
            if not self.preact:
                self.shortcut_bn = batch_norm("shortcut_bn", self.dtype_policy)
                self.shortcut_bn.build(self.shortcut_conv.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = inputs
        last = len(self.convs) - 1
        if self.preact:
            pre = ops.relu(self.bns[0](x, training=training))
            h = pre
        else:
            h = x
        for i, (conv, (k, _, s, _)) in enumerate(zip(self.convs, self._conv_specs, strict=True)):
            if self.preact and i > 0:
                h = ops.relu(self.bns[i](h, training=training))
            if i == last and self.dropout_layer is not None:
                h = self.dropout_layer(h, training=training)
            if s == 2 and k > 1:
                p = k // 2
                h = ops.pad(h, [[0, 0], [p, p], [p, p], [0, 0]])
            if self.preact:
                h = conv(h)
            else:
                h = conv_then_norm(conv, self.bns[i], h, training)
                if i < last:
                    h = ops.relu(h)
        if self.se is not None:
            h = self.se(h)
        out = h + self._shortcut(x, pre if self.preact else x, training)
        return out if self.preact else ops.relu(out)

    def _shortcut(self, x, pre, training):
        if self.shortcut_conv is not None:
            if self.shortcut_bn is None:
                return self.shortcut_conv(pre)
            return conv_then_norm(self.shortcut_conv, self.shortcut_bn, pre, training)
        if self.stride == 2:
            # x[:, ::2, ::2, :] as a 1x1 max pool: TensorFlow's strided slice is single-threaded
            # Eigen code, 2-4x slower forward and backward on this CPU (about 9% of a ResNet-20
            # training step and 16% of its batch-256 serving); the pool is oneDNN's and exact.
            x = ops.max_pool(x, pool_size=1, strides=2, padding="valid")
        extra = self.out_channels - x.shape[-1]
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return x

    def compute_output_shape(self, input_shape):
        def down(d):
            return None if d is None else math.ceil(d / self.stride)

        return (input_shape[0], down(input_shape[1]), down(input_shape[2]), self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "stride": self.stride,
                "preact": self.preact,
                "shortcut": self.shortcut,
                "se_ratio": self.se_ratio,
                "dropout": self.dropout,
                "groups": self.groups,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


def _pad_shape(shape, p):
    return (shape[0], *(None if d is None else d + 2 * p for d in shape[1:3]), shape[3])


@keras.saving.register_keras_serializable(package="kzoo")
class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions plus a shortcut (He et al. 2015 / 2016).

    v1 (``preact=False``): relu(BN(conv(relu(BN(conv(x))))) [* SE] + shortcut(x)).
    v2 (``preact=True``): conv(drop(relu(BN(conv(p))))) [* SE] + shortcut, with p = relu(BN(x));
    a projection shortcut reads p, an identity/"A" shortcut reads x. The model applies the final BN-ReLU.

    Args:
        filters: output channels (>= 1).
        stride: 1, or 2 to halve height and width (on the first convolution).
        preact: False for the original post-activation block, True for pre-activation.
        shortcut: "A" (parameter-free zero-padding shortcut) or "B" (1x1 projection where the shape
            changes). See the module docstring.
        se_ratio: None, or the reduction ratio r of a Squeeze-and-Excitation gate on the residual
            branch before the addition (Hu et al. 2018 use 16).
        dropout: dropout rate in [0, 1) between the two convolutions (Wide ResNet).
        groups: grouped convolutions (must divide `filters` and the input channels).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer applied to every kernel, SE kernels included.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> block = BasicBlock(32, stride=2, shortcut="A")
        >>> y = block(keras.random.normal((2, 32, 32, 16)))  # shape (2, 16, 16, 32)

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
        He, Zhang, Ren, Sun. "Identity Mappings in Deep Residual Networks." ECCV 2016.
    """

    def _branch_spec(self):
        return [
            (3, self.filters, self.stride, self.groups),
            (3, self.filters, 1, self.groups),
        ]


@keras.saving.register_keras_serializable(package="kzoo")
class BottleneckBlock(_ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand (x `expansion`) plus a shortcut (He et al. 2015 / 2016).

    The stride sits on the 3x3 convolution (torchvision's "ResNet v1.5" and Torch's fb.resnet.torch);
    `groups` applies to the 3x3 convolution only (ResNeXt-style). Dropout, if any, comes before the
    last 1x1 convolution. Otherwise as `BasicBlock`; the block outputs `filters * expansion` channels.

    Args:
        filters: channels of the bottleneck (the 1x1 and 3x3 convolutions), >= 1.
        stride: 1 or 2.
        preact: False (post-activation) or True (pre-activation).
        shortcut: "A" or "B" (see `BasicBlock`).
        expansion: output channels = filters * expansion (the papers use 4).
        se_ratio: None or the Squeeze-and-Excitation reduction ratio.
        dropout: dropout rate in [0, 1) before the last convolution.
        groups: groups of the 3x3 convolution (must divide `filters`).
        kernel_initializer: initializer of every convolution kernel.
        kernel_regularizer: regularizer applied to every kernel, SE kernels included.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:
        >>> block = BottleneckBlock(64, stride=2, shortcut="B")
        >>> y = block(keras.random.normal((2, 56, 56, 256)))  # shape (2, 28, 28, 256)

    Reference:
        He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
        He, Zhang, Ren, Sun. "Identity Mappings in Deep Residual Networks." ECCV 2016.
    """

    def __init__(self, filters, stride=1, preact=False, shortcut="A", expansion=4, **kwargs):
        self.expansion = check_positive_int("expansion", expansion)
        super().__init__(filters, stride=stride, preact=preact, shortcut=shortcut, **kwargs)

    def _branch_spec(self):
        return [
            (1, self.filters, 1, 1),
            (3, self.filters, self.stride, self.groups),
            (1, self.filters * self.expansion, 1, 1),
        ]

    def get_config(self):
        config = super().get_config()
        config["expansion"] = self.expansion
        return config
