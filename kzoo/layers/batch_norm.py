"""`FusedBatchNormalization`: Keras' batch normalisation, computed by TensorFlow's fused kernel."""

from __future__ import annotations

import functools

import keras

# The papers' batch norm (Torch / PyTorch defaults): running averages with momentum 0.9, epsilon
# 1e-5. Keras' defaults (0.99, 1e-3) warm the moving statistics up ten times slower, which a short
# run on a small dataset never recovers from at test time.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="kzoo")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with the same arguments, weights and results, faster.

    Keras 3 normalises with separate moment, subtract, scale and cast ops (and upcasts bfloat16 /
    float16 inputs to a float32 copy first); Keras 2 and PyTorch call one fused kernel instead.
    On the TensorFlow backend, for 4-D channels-last inputs without mask or renorm, this layer calls
    TensorFlow's fused batch norm (oneDNN on x86 CPUs, cuDNN on GPUs), which reads bfloat16 and
    float16 directly: measured on this project's 2-core AVX512_BF16 CPU, a ResNet-20 training step
    under `mixed_bfloat16` runs about twice as fast. Everything else falls back to Keras' own code.

    The moving statistics follow Keras' rule (biased batch variance, running average with
    `momentum`), so weights move freely between this layer and Keras' BatchNormalization.

    Args:
        **kwargs: `keras.layers.BatchNormalization` arguments (`momentum`, `epsilon`, ...).

    Example:
        >>> bn = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
        >>> y = bn(keras.random.normal((8, 32, 32, 16)), training=True)

    Reference:
        Ioffe, Szegedy. "Batch Normalization: Accelerating Deep Network Training by Reducing
        Internal Covariate Shift." ICML 2015.
    """

    def _fused_applies(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            # TensorFlow's fused kernel has no float64 version (gradient checks run in float64).
            and keras.backend.standardize_dtype(inputs.dtype) != "float64"
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        pad = _bf16_channel_padding(self.compute_dtype, channels)
        inputs = tf.cast(inputs, _kernel_dtype(self.compute_dtype, channels))
        gamma = self.gamma if self.scale else tf.ones((channels,), "float32")
        beta = self.beta if self.center else tf.zeros((channels,), "float32")
        gamma, beta = tf.cast(gamma, "float32"), tf.cast(beta, "float32")
        # Padding channels are zeros normalised with gamma 1, beta 0 (mean 0, variance 1 at
        # inference): they come out as zeros, are sliced away, and never reach the weights.
        kernel_inputs = _pad_channels(inputs, pad, 0.0)
        gamma, beta = _pad_channels(gamma, pad, 1.0), _pad_channels(beta, pad, 0.0)
        if training and self.trainable:
            outputs, mean, variance, *_ = tf.compat.v1.nn.fused_batch_norm(
                kernel_inputs, gamma, beta, epsilon=self.epsilon, is_training=True
            )
            mean, variance = _unpad_channels(mean, pad), _unpad_channels(variance, pad)
            # The kernel returns the Bessel-corrected variance; Keras averages the biased one.
            n = tf.cast(tf.size(inputs) // channels, "float32")
            variance = variance * ((n - 1.0) / tf.maximum(n, 1.0))
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
            )
            return tf.cast(_unpad_channels(outputs, pad), self.compute_dtype)
        outputs, *_ = tf.compat.v1.nn.fused_batch_norm(
            kernel_inputs,
            gamma,
            beta,
            mean=_pad_channels(tf.cast(self.moving_mean, "float32"), pad, 0.0),
            variance=_pad_channels(tf.cast(self.moving_variance, "float32"), pad, 1.0),
            epsilon=self.epsilon,
            is_training=False,
        )
        return tf.cast(_unpad_channels(outputs, pad), self.compute_dtype)


# oneDNN's bfloat16 batch norm has a vectorised kernel only for channel counts divisible by 16
# (one AVX-512 register of bfloat16 pairs); other counts take a path 3-5x slower (measured on the
# 2-core AVX512_BF16 CPU, batch 128, 32x32: 120 channels 108-134 ms forward + backward, 112
# channels 25 ms). DenseNets' concatenations (24 + 12k channels) hit it in 43 of DenseNet-BC-100's
# 99 batch norms. On CPU such inputs are padded with zero channels up to the next multiple of 16,
# normalised by the vectorised bf16 kernel (gamma 1, beta 0, mean 0, variance 1 on the padding, so
# the weights keep their shapes) and sliced back. Against the previous detour (cast to float32,
# normalise, cast back), alternating in one process on that CPU (another job sharing it), forward +
# backward of the layer at DenseNet-BC-100's shapes took 0.47-0.73x the time at 32x32 (36-216
# channels), 0.45-0.58x at 16x16 (108-300), 0.23-0.31x at 8x8 (150-342); inference 0.20-0.62x at
# batch 128 and 0.60-1.02x at batch 1; a whole training step of densenet_bc_100_12 (kzoo's default
# path, batch 128) 0.70x and 0.74x in two runs (medians of per-round ratios; 4 rounds of 6 steps,
# 0.54-0.75; 6 rounds of 6 steps, 0.70-0.77), 4.0 -> 2.9-3.0 s a step with another job running.
# GPUs keep the plain bf16 kernel.
_BF16_CHANNEL_MULTIPLE = 16
# False brings the float32 detour back, for comparing the two paths in one process
# (benchmarks/bn_channel_padding.py); the setting is read when a call is traced.
_PAD_BF16_CHANNELS = True


def _kernel_dtype(compute_dtype: str, channels: int) -> str:
    if compute_dtype != "bfloat16" or channels % _BF16_CHANNEL_MULTIPLE == 0:
        return compute_dtype
    return compute_dtype if _has_gpu() or _PAD_BF16_CHANNELS else "float32"


def _bf16_channel_padding(compute_dtype: str, channels: int) -> int:
    """Zero channels that bring a bf16 CPU input up to oneDNN's vectorised channel multiple."""
    if compute_dtype != "bfloat16" or not _PAD_BF16_CHANNELS or _has_gpu():
        return 0
    return -channels % _BF16_CHANNEL_MULTIPLE


def _pad_channels(x, pad: int, value: float):
    if not pad:
        return x
    import tensorflow as tf

    return tf.pad(x, [[0, 0]] * (len(x.shape) - 1) + [[0, pad]], constant_values=value)


def _unpad_channels(x, pad: int):
    if not pad:
        return x
    import tensorflow as tf

    # tf.slice, not x[..., :c]: the strided slice's gradient (StridedSliceGrad) made the padded
    # path 2-3x slower than the float32 round trip; Slice's gradient is a Pad.
    rank = len(x.shape)
    return tf.slice(x, [0] * rank, [-1] * (rank - 1) + [x.shape[-1] - pad])


@functools.cache
def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def conv_then_norm(conv, norm, inputs, training=None):
    """`norm(conv(inputs), training)`; at inference, one convolution with `norm` folded into it.

    In inference mode batch norm is a per-channel affine map, so after a bias-free convolution it
    folds into the kernel (times gamma / sqrt(var + eps)) plus a bias. TensorFlow's graph
    optimiser fuses convolution + batch norm (+ ReLU) only in float32; under `mixed_bfloat16` the
    two stayed separate ops. The folded form is a convolution + bias add that oneDNN fuses with the
    following ReLU (and residual add) in either precision: ResNet-20's batch-256 SavedModel serving
    measured ~6,900 img/s folded vs ~5,900 unfolded on this project's 2-core CPU (bf16).

    Falls back to the two layers when training, on other backends, or for layers it cannot fold
    (grouped or biased convolutions, channels-first data, Keras' own batch norm).

    Args:
        conv: a built `keras.layers.Conv2D` without bias.
        norm: a built `FusedBatchNormalization` over the convolution's output channels.
        inputs: the convolution's input.
        training: the Keras training flag.

    Example:
        >>> y = conv_then_norm(block.convs[0], block.bns[0], x, training=False)

    Reference:
        Jacob et al., "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-
        Only Inference", CVPR 2018 (Sec. 3.2, batch-norm folding).
    """
    if training or not _foldable(conv, norm):
        return norm(conv(inputs), training=training)
    import tensorflow as tf

    gamma = norm.gamma if norm.scale else 1.0
    beta = norm.beta if norm.center else 0.0
    # Variables read here, outside the sub-layers' own calls, are cast explicitly: under a mixed
    # policy the folding itself happens in float32 and only the folded kernel is rounded (in
    # float64, as gradient checks run, it stays float64).
    dtype = conv.compute_dtype
    wide = "float64" if dtype == "float64" else "float32"
    variance = tf.cast(norm.moving_variance, wide)
    scale = tf.cast(gamma, wide) * tf.math.rsqrt(variance + norm.epsilon)
    shift = tf.cast(beta, wide) - tf.cast(norm.moving_mean, wide) * scale
    kernel = tf.cast(tf.cast(conv.kernel, wide) * scale, dtype)
    outputs = tf.nn.conv2d(
        tf.cast(inputs, dtype),
        kernel,
        strides=(1, *conv.strides, 1),
        padding=conv.padding.upper(),
        dilations=(1, *conv.dilation_rate, 1),
    )
    return tf.nn.bias_add(outputs, tf.cast(shift, dtype))


def _foldable(conv, norm) -> bool:
    return (
        keras.backend.backend() == "tensorflow"
        and type(conv) is keras.layers.Conv2D
        and conv.built
        and not conv.use_bias
        and conv.groups == 1
        and conv.data_format == "channels_last"
        and conv.activation is keras.activations.linear
        and type(norm) is FusedBatchNormalization
        and norm.built
        and norm.axis in (-1, 3)
        and not norm.renorm
        and not norm.synchronized
    )


def batch_norm(name=None, dtype=None):
    """Batch normalisation (fused kernel) with the papers' momentum 0.9 and epsilon 1e-5.

    Example:
        >>> x = batch_norm("stem_bn")(x)
    """
    return FusedBatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=dtype, name=name)
