"""`load`: a dataset name -> train / validation / test `tf.data` pipelines ready for `Model.fit`.

Every supported dataset fits in memory (the largest, SVHN, is ~300 MB as uint8), so the splits are
read once with `tfds.load(..., batch_size=-1)` and the pipelines gather batches from those arrays.
That makes the stratified hold-out, the training-only statistics and the replayable epochs simple.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from kzoo.data.augment import pad_crop_flip
from kzoo.data.catalog import DatasetSpec, get_spec
from kzoo.data.normalize import Normalization, check_method, fit_normalization
from kzoo.data.source import read_splits

AUTOTUNE = tf.data.AUTOTUNE
# The dataset functions have no tensor-dependent Python control flow; skipping AutoGraph's source
# conversion saves seconds per `load`.
_plain = tf.autograph.experimental.do_not_convert
# Salts separating the random streams derived from one seed.
_SHUFFLE, _AUGMENT = 0, 1
_EPOCH_STREAM, _TRAIN_STREAM = 0x6B7A6F6F, 0x74726E


@dataclass
class DatasetInfo:
    """What a model and a training run need to know about a loaded dataset.

    `mean` / `std` are per channel (images, sequences: the last axis) or per feature (tabular), and
    come from the training part only, after the validation hold-out; with "pca" / "zca" `mean` is
    per feature (the shape of one raw example) and `normalization` holds the projection too.
    `input_shape` is what the model sees (PCA's is flat), `raw_shape` what the dataset stores.
    `raw_range` is the smallest and largest raw value of the training split (digits 0..16, CIFAR
    0..255): what a served model may be fed without leaving the inputs it was trained on.
    """

    name: str
    input_shape: tuple
    num_classes: int
    class_names: list
    mean: np.ndarray
    std: np.ndarray
    num_train: int
    num_validation: int
    num_test: int
    raw_dtype: str
    kind: str
    augment: bool = False
    seed: int = 0
    batch_size: int = 128
    raw_range: tuple | None = None
    normalization: Normalization | None = field(default=None, repr=False)

    @property
    def normalize(self) -> str:
        """The normalisation method ("standardize", "center", "pca", "zca" or "none")."""
        return "standardize" if self.normalization is None else self.normalization.method

    @property
    def raw_shape(self) -> tuple:
        """The shape of one stored (raw) example, before normalisation."""
        return self.input_shape if self.normalization is None else self.normalization.raw_shape


@dataclass
class DataBundle:
    """The pipelines of one dataset. See `load`.

    `train_indices` / `validation_indices` are positions in `load_arrays(name)["x_train"]`.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    info: DatasetInfo
    steps_per_epoch: int
    train_indices: np.ndarray = field(repr=False)
    validation_indices: np.ndarray | None = field(repr=False)
    _epochs: _EpochBuilder = field(repr=False)

    def train_epochs(self, initial_epoch: int, epochs: int) -> tf.data.Dataset:
        """The training batches of epochs `initial_epoch .. epochs - 1`, back to back.

        Each epoch's order and augmentation is a pure function of (seed, epoch), so a run resumed at
        `initial_epoch` sees exactly the batches an uninterrupted run would. Use with
        `fit(ds, steps_per_epoch=bundle.steps_per_epoch, initial_epoch=..., epochs=...)`.
        """
        for arg, value in (("initial_epoch", initial_epoch), ("epochs", epochs)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(
                    f"`{arg}` must be a non-negative integer; received {arg}={value!r}."
                )
        if initial_epoch > epochs:
            raise ValueError(
                f"`initial_epoch` must be <= `epochs`; received initial_epoch={initial_epoch!r}, "
                f"epochs={epochs!r}."
            )
        keys = tf.data.Dataset.range(int(initial_epoch), int(epochs)).map(self._epochs.epoch_key)
        return self._epochs.batches(keys)


class _EpochBuilder:
    """Builds the training batches of an epoch from its (2,)-shaped random key."""

    def __init__(self, x, y, batch_size, seed, norm: Normalization, spec: DatasetSpec,
                 augment: bool):
        self.x = tf.constant(x)
        self.y = tf.constant(y, tf.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.norm = norm
        self.spec = spec
        self.augment = augment

    @_plain
    def epoch_key(self, epoch):
        base = tf.constant([self.seed, _EPOCH_STREAM], tf.int64)
        return tf.random.experimental.stateless_fold_in(base, epoch)

    @_plain
    def train_key(self, draw):
        base = tf.constant([self.seed, _TRAIN_STREAM], tf.int64)
        return tf.random.experimental.stateless_fold_in(base, draw)

    @_plain
    def _index_batches(self, key):
        n = tf.shape(self.y, out_type=tf.int64)[0]
        shuffle_seed = tf.random.experimental.stateless_fold_in(key, _SHUFFLE)
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=shuffle_seed)
        batches = tf.data.Dataset.from_tensor_slices(order).batch(self.batch_size).enumerate()
        return batches.map(_plain(lambda step, idx: (key, step, idx)))

    @_plain
    def _make_batch(self, key, step, idx):
        raw = tf.gather(self.x, idx)
        if self.augment:
            aug_key = tf.random.experimental.stateless_fold_in(key, _AUGMENT)
            step_seed = tf.random.experimental.stateless_fold_in(aug_key, step)
            images = pad_crop_flip(
                raw,
                step_seed,
                self.spec.pad,
                self.spec.flip,
                normalize=self.norm.apply_tf,
            )
        else:
            images = self.norm.apply_tf(raw)
        return images, tf.gather(self.y, idx)

    def batches(self, keys: tf.data.Dataset) -> tf.data.Dataset:
        ds = keys.flat_map(self._index_batches)
        return ds.map(self._make_batch, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _check_args(batch_size, validation_split, seed, augment, data_dir, cache):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; received batch_size={batch_size!r}.")
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float, np.floating))
        or not 0 <= validation_split < 1
    ):
        raise ValueError(
            "`validation_split` must be a number in [0, 1); "
            f"received validation_split={validation_split!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be an integer in [0, 2**32); received seed={seed!r}.")
    if augment is not None and not isinstance(augment, bool):
        raise ValueError(f"`augment` must be None, True or False; received augment={augment!r}.")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"`data_dir` must be a path or None; received data_dir={data_dir!r}.")
    if not isinstance(cache, bool):
        raise ValueError(f"`cache` must be True or False; received cache={cache!r}.")


def _check_augment(spec: DatasetSpec, augment, normalize="standardize") -> None:
    if augment and not spec.can_augment:
        raise ValueError(
            f"`augment`=True is not available for the {spec.kind} dataset {spec.name!r}; "
            "use augment=None or False."
        )
    if normalize in ("pca", "zca") and (augment or (augment is None and spec.augment)):
        raise ValueError(
            f"normalize={normalize!r} transforms whole examples, which the pad-and-crop "
            f"augmentation of {spec.name!r} (zero padding after normalising) does not commute "
            "with; pass augment=False with it."
        )


def _hold_out(y: np.ndarray, validation_split: float, seed: int):
    """Stratified, seeded split of the training positions into (train, validation), both sorted."""
    positions = np.arange(len(y))
    if validation_split == 0:
        return positions, None
    try:
        train, val = train_test_split(
            positions, test_size=validation_split, random_state=seed, stratify=y
        )
    except ValueError as err:
        raise ValueError(
            f"`validation_split`={validation_split!r} cannot hold out a stratified validation set "
            f"from {len(y)} training examples of {len(np.unique(y))} classes: {err}"
        ) from err
    return np.sort(train), np.sort(val)


def raw_range(x: np.ndarray) -> tuple:
    """`(min, max)` of raw values as plain Python numbers (int for integer dtypes)."""
    cast = int if np.issubdtype(x.dtype, np.integer) else float
    return (cast(np.min(x)), cast(np.max(x))) if x.size else None


def _eval_pipeline(x, y, batch_size, norm: Normalization, cache) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int64))).batch(batch_size)
    ds = ds.map(_plain(lambda xb, yb: (norm.apply_tf(xb), yb)), num_parallel_calls=AUTOTUNE)
    if cache:
        ds = ds.cache()
    return ds.prefetch(AUTOTUNE)


def load_arrays(name: str, *, data_dir=None, manual_dir=None) -> dict:
    """The raw splits of dataset `name` as NumPy arrays: x_train, y_train, x_test, y_test.

    Args:
        name: a name from `list_datasets()`.
        data_dir: TFDS data directory; None means TFDS' default (~/tensorflow_datasets).
        manual_dir: where TFDS looks for manually downloaded archives of the online datasets.

    Example:
        >>> arrays = load_arrays("wine")
        >>> arrays["x_train"].shape
        (142, 13)
    """
    spec = get_spec(name)
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ValueError(f"`data_dir` must be a path or None; received data_dir={data_dir!r}.")
    arrays, _ = read_splits(spec, data_dir=data_dir, manual_dir=manual_dir)
    return arrays


def load(
    name: str,
    *,
    batch_size: int = 128,
    validation_split: float = 0.1,
    seed: int = 0,
    augment: bool | None = None,
    data_dir=None,
    cache: bool = True,
    manual_dir=None,
    normalize: str = "standardize",
    pca_components: int | None = None,
    zca_epsilon: float | None = None,
) -> DataBundle:
    """Load dataset `name` as normalised, batched `tf.data` pipelines.

    Args:
        name: a name from `list_datasets()`.
        batch_size: examples per batch (the last batch of an epoch may be smaller).
        validation_split: fraction of the train split held out (stratified, seeded) as validation;
            0 gives `validation=None`.
        seed: drives the hold-out, every epoch's shuffle and augmentation.
        augment: None uses the dataset's default (CIFAR: pad 4 + random crop + flip; others: off);
            True / False force it (True is only valid for image datasets).
        data_dir: TFDS data directory; None means TFDS' default.
        cache: cache the normalised validation and test batches in memory.
        manual_dir: TFDS manual download directory for the online datasets.
        normalize: "standardize" (per channel / feature: mean and standard deviation), "center"
            (mean only), "pca" (decorrelated: the per-feature mean subtracted, rotated onto the
            principal axes; flat outputs), "zca" (whitened, same shape) or "none" (raw values as
            float32); statistics from the training part only. See `kzoo.data.normalize`.
        pca_components: "pca" only: keep the first k principal components (default all).
        zca_epsilon: "zca" only: added to each covariance eigenvalue (default 1e-5).

    Example:
        >>> bundle = load("digits", batch_size=64)
        >>> model.fit(bundle.train_epochs(0, 10), steps_per_epoch=bundle.steps_per_epoch,
        ...           epochs=10, validation_data=bundle.validation)

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (CIFAR protocol).
    """
    spec = get_spec(name)
    _check_args(batch_size, validation_split, seed, augment, data_dir, cache)
    check_method(normalize, pca_components, zca_epsilon)
    _check_augment(spec, augment, normalize)
    arrays, class_names = read_splits(spec, data_dir=data_dir, manual_dir=manual_dir)
    return bundle_from_arrays(
        spec,
        arrays,
        class_names,
        batch_size=batch_size,
        validation_split=validation_split,
        seed=seed,
        augment=augment,
        cache=cache,
        normalize=normalize,
        pca_components=pca_components,
        zca_epsilon=zca_epsilon,
    )


def bundle_from_arrays(
    spec: DatasetSpec,
    arrays: dict,
    class_names,
    *,
    batch_size: int = 128,
    validation_split: float = 0.1,
    seed: int = 0,
    augment: bool | None = None,
    cache: bool = True,
    normalize: str = "standardize",
    pca_components: int | None = None,
    zca_epsilon: float | None = None,
) -> DataBundle:
    """The pipelines `load` builds, from in-memory splits laid out like `load_arrays`' result.

    `load` is this function applied to a catalog dataset's splits; call it directly to feed other
    arrays of a catalog dataset's form (e.g. synthetic CIFAR-shaped images for a benchmark) through
    exactly the same normalisation, augmentation and batching.

    Args:
        spec: the `DatasetSpec` whose kind, augmentation and shape the arrays follow.
        arrays: `x_train`, `y_train`, `x_test`, `y_test` as NumPy arrays.
        class_names: one label per class.
        batch_size, validation_split, seed, augment, cache, normalize, pca_components,
            zca_epsilon: as in `load`.

    Example:
        >>> bundle = bundle_from_arrays(get_spec("cifar10"), arrays, [str(i) for i in range(10)])
    """
    _check_args(batch_size, validation_split, seed, augment, None, cache)
    check_method(normalize, pca_components, zca_epsilon)
    _check_augment(spec, augment, normalize)
    do_augment = spec.augment if augment is None else augment
    batch_size, seed = int(batch_size), int(seed)
    x, y = arrays["x_train"], arrays["y_train"]
    train_idx, val_idx = _hold_out(y, validation_split, seed)
    norm = fit_normalization(x[train_idx], normalize, pca_components=pca_components,
                             zca_epsilon=zca_epsilon)

    epochs = _EpochBuilder(x[train_idx], y[train_idx], batch_size, seed, norm, spec, do_augment)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    train = epochs.batches(draws.map(epochs.train_key))
    validation = None
    if val_idx is not None:
        validation = _eval_pipeline(x[val_idx], y[val_idx], batch_size, norm, cache)
    test = _eval_pipeline(arrays["x_test"], arrays["y_test"], batch_size, norm, cache)

    info = DatasetInfo(
        name=spec.name,
        input_shape=tuple(norm.output_shape),
        num_classes=spec.num_classes,
        class_names=list(class_names),
        mean=norm.mean,
        std=norm.std,
        num_train=len(train_idx),
        num_validation=0 if val_idx is None else len(val_idx),
        num_test=len(arrays["y_test"]),
        raw_dtype=spec.raw_dtype,
        kind=spec.kind,
        augment=do_augment,
        seed=seed,
        batch_size=batch_size,
        normalization=norm,
        raw_range=raw_range(x),
    )
    return DataBundle(
        train=train,
        validation=validation,
        test=test,
        info=info,
        steps_per_epoch=-(-len(train_idx) // batch_size),
        train_indices=train_idx,
        validation_indices=val_idx,
        _epochs=epochs,
    )
