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


class _DigitsSubset(KzooDigits):
    """The UCI digits of some classes only, relabelled 0..k-1: two halves of one task, for
    transfer learning (pretrain on one half, learn the other from few examples). The split is
    `kzoo_digits`' (each half's test images are digits test images), filtered by class."""

    CLASSES: tuple = ()
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        digits = ", ".join(str(c) for c in self.CLASSES)
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"UCI optical handwritten digits of classes {digits} only, 8x8 pixels.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=[str(d) for d in self.CLASSES]),
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
            "train": self._generate_examples(*self._subset(x_train, y_train)),
            "test": self._generate_examples(*self._subset(x_test, y_test)),
        }

    def _subset(self, x, y):
        keep = np.isin(y, self.CLASSES)
        relabel = {c: i for i, c in enumerate(self.CLASSES)}
        return x[keep], np.array([relabel[int(c)] for c in y[keep]], dtype=np.int64)


class KzooDigits0to4(_DigitsSubset):
    """UCI digits 0-4 (labels 0-4): the pretraining half of `digits_0to4` -> `digits_5to9`.

    Reference:
        Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
        Repository, 1998.
    """

    name = "kzoo_digits_0to4"
    CLASSES = (0, 1, 2, 3, 4)


class KzooDigits5to9(_DigitsSubset):
    """UCI digits 5-9 (relabelled 0-4, class names "5".."9"): the second half of the task.

    Reference:
        Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
        Repository, 1998.
    """

    name = "kzoo_digits_5to9"
    CLASSES = (5, 6, 7, 8, 9)
