"""UCI tabular classification sets shipped with scikit-learn, as TFDS dataset builders."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets

from kzoo.data.builders._split import generate_examples, stratified_split


class _SklearnTabular(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A scikit-learn `load_*` table: float32 feature vectors and a class label.

    Subclasses set `LOADER` (the scikit-learn function name), `NUM_FEATURES`, `DESCRIPTION` and
    `HOMEPAGE`. The train/test split is the fixed stratified 80/20 split (`random_state=0`).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict] = {"1.0.0": "Initial release."}
    LOADER: ClassVar[str]
    NUM_FEATURES: ClassVar[int]
    DESCRIPTION: ClassVar[str]
    HOMEPAGE: ClassVar[str]

    def _bunch(self):
        return getattr(sk_datasets, self.LOADER)()

    def _info(self) -> tfds.core.DatasetInfo:
        names = [str(n) for n in self._bunch().target_names]
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "features": tfds.features.Tensor(shape=(self.NUM_FEATURES,), dtype=np.float32),
                    "label": tfds.features.ClassLabel(names=names),
                }
            ),
            supervised_keys=("features", "label"),
            homepage=self.HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # generated offline
        bunch = self._bunch()
        x_train, y_train, x_test, y_test = stratified_split(
            bunch.data.astype(np.float32), bunch.target
        )
        return {
            "train": self._generate_examples(x_train, y_train),
            "test": self._generate_examples(x_test, y_test),
        }

    def _generate_examples(self, x, y):
        yield from generate_examples(x, y, "features")


class KzooBreastCancer(_SklearnTabular):
    """Breast Cancer Wisconsin (Diagnostic): 569 tumours, 30 features, malignant / benign.

    Example:
        >>> tfds.load("kzoo_breast_cancer", split="train")  # 455 examples

    Reference:
        Street, Wolberg & Mangasarian, "Nuclear feature extraction for breast tumor diagnosis",
        1993.
    """

    name = "kzoo_breast_cancer"
    LOADER = "load_breast_cancer"
    NUM_FEATURES = 30
    DESCRIPTION = "Breast Cancer Wisconsin (Diagnostic), 569 examples, 30 features, 2 classes."
    HOMEPAGE = "https://archive.ics.uci.edu/dataset/17"


class KzooWine(_SklearnTabular):
    """Wine recognition: 178 wines from three cultivars, 13 chemical measurements.

    Example:
        >>> tfds.load("kzoo_wine", split="train")  # 142 examples

    Reference:
        Aeberhard & Forina, "Wine", UCI Machine Learning Repository, 1991.
    """

    name = "kzoo_wine"
    LOADER = "load_wine"
    NUM_FEATURES = 13
    DESCRIPTION = "Wine recognition, 178 examples, 13 features, 3 classes."
    HOMEPAGE = "https://archive.ics.uci.edu/dataset/109"


class KzooIris(_SklearnTabular):
    """Fisher's iris: 150 flowers of three species, 4 measurements.

    Example:
        >>> tfds.load("kzoo_iris", split="train")  # 120 examples

    Reference:
        Fisher, "The use of multiple measurements in taxonomic problems", 1936.
    """

    name = "kzoo_iris"
    LOADER = "load_iris"
    NUM_FEATURES = 4
    DESCRIPTION = "Iris, 150 examples, 4 features, 3 classes."
    HOMEPAGE = "https://archive.ics.uci.edu/dataset/53"
