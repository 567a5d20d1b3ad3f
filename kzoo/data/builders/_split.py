"""The fixed train/test split and example generator shared by the offline scikit-learn builders."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

# 20% test, stratified by class, drawn once with this seed: part of each dataset's definition.
TEST_SIZE = 0.2
SPLIT_SEED = 0


def stratified_split(x: np.ndarray, y: np.ndarray):
    """The fixed stratified split: returns (x_train, y_train, x_test, y_test)."""
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    return x_train, y_train, x_test, y_test


def generate_examples(x: np.ndarray, y: np.ndarray, feature_key: str):
    """Yield (key, example) pairs keyed by array position, so generation is deterministic."""
    for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
        yield i, {feature_key: xi, "label": int(yi)}
