"""The datasets kzoo knows by name: where they come from, their kind, shape and default augmentation."""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about one dataset.

    Args:
        name: the name users pass to `kzoo.data.load`.
        tfds_name: the TFDS builder name (`kzoo_*` for the offline builders, so they never collide
            with TFDS' own catalog, which already has e.g. `iris`).
        kind: "image", "sequence" or "tabular".
        input_shape: the shape of one example.
        num_classes: number of classes.
        raw_dtype: dtype of the stored examples.
        offline: True when the builder generates the data without network access.
        augment: whether `load(..., augment=None)` augments the training data.
        pad: pixels of zero padding before the random crop back to the original size (0: no crop).
        flip: whether augmentation flips images left-right.
    """

    name: str
    tfds_name: str
    kind: str
    input_shape: tuple
    num_classes: int
    raw_dtype: str
    offline: bool
    augment: bool = False
    pad: int = 0
    flip: bool = False

    @property
    def can_augment(self) -> bool:
        return self.pad > 0 or self.flip


# Defaults follow the papers: CIFAR uses He et al.'s 4-pixel pad + random crop + horizontal flip;
# SVHN, MNIST-like sets and the UCI digits are trained without augmentation (asking for it gives
# translations only -- flipping a digit changes its meaning; Fashion-MNIST may also flip).
_SPECS = (
    DatasetSpec("digits", "kzoo_digits", "image", (8, 8, 1), 10, "uint8", True, pad=1),
    # The two halves of digits, for transfer learning (pretrain on one, fine-tune on the other).
    DatasetSpec("digits_0to4", "kzoo_digits_0to4", "image", (8, 8, 1), 5, "uint8", True, pad=1),
    DatasetSpec("digits_5to9", "kzoo_digits_5to9", "image", (8, 8, 1), 5, "uint8", True, pad=1),
    DatasetSpec("mnist1d", "kzoo_mnist1d", "sequence", (40, 1), 10, "float32", True),
    DatasetSpec("breast_cancer", "kzoo_breast_cancer", "tabular", (30,), 2, "float32", True),
    DatasetSpec("wine", "kzoo_wine", "tabular", (13,), 3, "float32", True),
    DatasetSpec("iris", "kzoo_iris", "tabular", (4,), 3, "float32", True),
    DatasetSpec("cifar10", "cifar10", "image", (32, 32, 3), 10, "uint8", False, True, 4, True),
    DatasetSpec("cifar100", "cifar100", "image", (32, 32, 3), 100, "uint8", False, True, 4, True),
    DatasetSpec("mnist", "mnist", "image", (28, 28, 1), 10, "uint8", False, pad=2),
    DatasetSpec("fashion_mnist", "fashion_mnist", "image", (28, 28, 1), 10, "uint8", False, pad=2,
                flip=True),
    DatasetSpec("svhn_cropped", "svhn_cropped", "image", (32, 32, 3), 10, "uint8", False, pad=4),
)
CATALOG: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}


def list_datasets() -> list[str]:
    """Names accepted by `kzoo.data.load`, sorted."""
    return sorted(CATALOG)


def get_spec(name) -> DatasetSpec:
    """The catalog entry of `name`; an unknown name raises ValueError listing the valid ones."""
    if isinstance(name, str) and name in CATALOG:
        return CATALOG[name]
    close = difflib.get_close_matches(str(name), list(CATALOG), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(
        f"Unknown dataset name={name!r}.{hint} Valid names: {', '.join(list_datasets())}."
    )
