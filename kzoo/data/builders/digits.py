"""UCI optical handwritten digits (scikit-learn's `load_digits`) as a TFDS dataset builder."""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits

from kzoo.data.builders._split import generate_examples, stratified_split


class KzooDigits(tfds.core.GeneratorBasedBuilder):
    """UCI handwritten digits: 1,797 8x8 grey images with values 0..16, ten classes.

    Generated offline from scikit-learn's copy; the train/test split (1,437 / 360) is a fixed
    stratified 80/20 split (`random_state=0`).

    Example:
        >>> import tensorflow_datasets as tfds
        >>> import kzoo.data  # registers the builder
        >>> ds = tfds.load("kzoo_digits", split="train", data_dir="/tmp/tfds")

    Reference:
        Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
        Repository, 1998.
    """

    name = "kzoo_digits"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="UCI optical handwritten digits, 8x8 pixels, grey levels 0..16.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # generated offline
        bunch = load_digits()
        images = bunch.images.astype(np.uint8)[..., None]
        x_train, y_train, x_test, y_test = stratified_split(images, bunch.target)
        return {
            "train": self._generate_examples(x_train, y_train),
            "test": self._generate_examples(x_test, y_test),
        }

    def _generate_examples(self, x, y):
        yield from generate_examples(x, y, "image")
