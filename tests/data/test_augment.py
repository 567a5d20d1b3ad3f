"""Stateless pad + crop + flip: per-image translations and mirrors, shapes and labels kept."""

import numpy as np
import pytest
import tensorflow as tf

import kzoo.data
from kzoo.data.augment import pad_crop_flip


def _shift(image, dy, dx):
    """NumPy reference: translate by (dy, dx) with zero fill (what pad + crop produces)."""
    h, w = image.shape[:2]
    out = np.zeros_like(image)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[
        max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _translation(original, augmented, pad):
    for dy in range(-pad, pad + 1):
        for dx in range(-pad, pad + 1):
            if np.array_equal(_shift(original, dy, dx), augmented):
                return dy, dx
    return None


def test_crop_is_a_per_image_translation(rng):
    images = rng.normal(size=(64, 32, 32, 3)).astype(np.float32)
    out = pad_crop_flip(tf.constant(images), tf.constant([3, 4]), pad=4, flip=False).numpy()
    assert out.shape == images.shape
    shifts = [_translation(a, b, 4) for a, b in zip(images, out, strict=True)]
    assert None not in shifts
    assert len(set(shifts)) > 20  # every image draws its own window
    assert {dy for dy, _ in shifts} == set(range(-4, 5))


def test_flip_mirrors_about_half_the_images(rng):
    images = rng.normal(size=(200, 8, 8, 1)).astype(np.float32)
    out = pad_crop_flip(tf.constant(images), tf.constant([0, 1]), pad=0, flip=True).numpy()
    flipped = np.array([np.array_equal(o, i[:, ::-1]) for i, o in zip(images, out, strict=True)])
    kept = np.array([np.array_equal(o, i) for i, o in zip(images, out, strict=True)])
    assert np.all(flipped ^ kept)
    assert 70 < flipped.sum() < 130


def test_same_seed_same_output_different_seed_different(rng):
    images = tf.constant(rng.normal(size=(16, 32, 32, 3)).astype(np.float32))
    a = pad_crop_flip(images, tf.constant([1, 2]), pad=4, flip=True)
    b = pad_crop_flip(images, tf.constant([1, 2]), pad=4, flip=True)
    c = pad_crop_flip(images, tf.constant([1, 3]), pad=4, flip=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("pad, flip", [(4, True), (4, False), (0, True), (2, True)])
def test_raw_images_with_normalize_equal_augmenting_the_normalised_images(pad, flip, rng):
    """The pipeline crops uint8 images and normalises after; padding must still be zeros."""
    raw = tf.constant(rng.integers(0, 256, (32, 16, 16, 3), dtype=np.uint8))
    mean = np.array([120.0, 115.0, 100.0], np.float32)
    std = np.array([60.0, 61.0, 62.0], np.float32)

    def normalize(x):
        return (tf.cast(x, tf.float32) - mean) / std

    seed = tf.constant([5, 9])
    direct = pad_crop_flip(raw, seed, pad, flip, normalize=normalize).numpy()
    reference = pad_crop_flip(normalize(raw), seed, pad, flip).numpy()
    np.testing.assert_array_equal(direct, reference)
    if pad:
        assert np.sum(direct == 0.0) > 0  # some windows leave the image


def test_load_augments_only_training_batches(data_dir):
    plain = kzoo.data.load("digits", data_dir=data_dir, seed=2, augment=False)
    augmented = kzoo.data.load("digits", data_dir=data_dir, seed=2, augment=True)
    assert augmented.info.augment and not plain.info.augment
    moved = 0
    for (xp, yp), (xa, ya) in zip(plain.train_epochs(0, 1), augmented.train_epochs(0, 1),
                                  strict=True):
        assert xa.shape == xp.shape
        np.testing.assert_array_equal(ya, yp)  # same order, same labels
        for p, a in zip(xp.numpy(), xa.numpy(), strict=True):
            shift = _translation(p, a, 1)  # zero padding after standardising
            assert shift is not None
            moved += shift != (0, 0)
    assert moved > 0.8 * plain.info.num_train  # 8 of 9 windows move the image
    for (xp, _), (xa, _) in zip(plain.test, augmented.test, strict=True):
        np.testing.assert_array_equal(xp, xa)


def test_augment_true_on_non_image_data_is_an_error(data_dir):
    with pytest.raises(ValueError, match="`augment`=True is not available for the tabular"):
        kzoo.data.load("wine", data_dir=data_dir, augment=True)
