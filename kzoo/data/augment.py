"""Stateless, batched image augmentation: zero-pad + random crop and random horizontal flip.

`tf.image.stateless_random_crop` would cut the same window from every image of a batch, and Keras'
preprocessing layers draw from a stateful generator, so a resumed run could not replay an epoch;
here every image gets its own offsets and flip, all a pure function of the seed.
"""

from __future__ import annotations

import tensorflow as tf


def pad_crop_flip(images: tf.Tensor, seed: tf.Tensor, pad: int, flip: bool) -> tf.Tensor:
    """Augment a batch (B, H, W, C) of normalised images.

    Args:
        images: float batch; padding with zeros after normalisation pads with the channel mean.
        seed: int32/int64 tensor of shape (2,) for the stateless random ops.
        pad: pixels added on every side before cropping back to (H, W); 0 disables the crop.
        flip: whether to flip each image left-right with probability 1/2.

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Sec. 4.2.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    if pad > 0:
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        offsets = tf.random.stateless_uniform(
            [2, batch], crop_seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32
        )
        rows = offsets[0][:, None] + tf.range(height)[None, :]
        cols = offsets[1][:, None] + tf.range(width)[None, :]
        images = tf.gather(padded, rows, axis=1, batch_dims=1)
        images = tf.gather(images, cols, axis=2, batch_dims=1)
    if flip:
        coins = tf.random.stateless_uniform([batch], flip_seed) < 0.5
        images = tf.where(coins[:, None, None, None], tf.reverse(images, axis=[2]), images)
    return images
