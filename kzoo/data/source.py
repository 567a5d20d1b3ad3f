"""Reading a catalog dataset's splits through `tfds.load` (offline builders and TFDS' catalog alike)."""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

import kzoo.data.builders  # noqa: F401  (registers the offline builders with TFDS)
from kzoo.data.catalog import DatasetSpec


def read_splits(spec: DatasetSpec, *, data_dir=None, manual_dir=None) -> tuple[dict, list]:
    """Return ({x_train, y_train, x_test, y_test} as NumPy, class names) of one dataset.

    Online datasets are downloaded and prepared by TFDS on first use; archives placed in
    `manual_dir` are used instead of the network.
    """
    kwargs = dict(
        split=["train", "test"],
        data_dir=None if data_dir is None else str(data_dir),
        batch_size=-1,
        as_supervised=True,
        with_info=True,
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)
        },
    )
    try:
        try:
            (train, test), info = tfds.load(spec.tfds_name, **kwargs)
        except FileExistsError:
            # Another process (e.g. a parallel tuner worker) finished preparing the same dataset
            # first and TFDS' final rename collided: its copy is complete, so read that.
            (train, test), info = tfds.load(spec.tfds_name, **kwargs)
    except Exception as err:
        if spec.offline:
            raise
        raise RuntimeError(
            f"Could not download or prepare {spec.name!r} (TFDS {spec.tfds_name!r}) into "
            f"data_dir={data_dir!r}: {type(err).__name__}: {err}. Download it on a machine with "
            "network access, or place the archives in `manual_dir`."
        ) from err
    arrays = {
        "x_train": np.asarray(train[0]),
        "y_train": np.asarray(train[1], dtype=np.int64),
        "x_test": np.asarray(test[0]),
        "y_test": np.asarray(test[1], dtype=np.int64),
    }
    return arrays, list(info.features["label"].names)
