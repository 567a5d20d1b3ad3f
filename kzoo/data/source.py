"""Reading a catalog dataset's splits through `tfds.load` (offline builders and TFDS' catalog alike)."""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

import kzoo.data.builders  # noqa: F401  (registers the offline builders with TFDS)
from kzoo.data.catalog import DatasetSpec
from kzoo.data.download import (
    DownloadUnavailableError,
    archives_to_download,
    by_hand,
    check_downloads,
    removing_new_folders,
)


def read_splits(spec: DatasetSpec, *, data_dir=None, manual_dir=None) -> tuple[dict, list]:
    """Return ({x_train, y_train, x_test, y_test} as NumPy, class names) of one dataset.

    Online datasets are downloaded and prepared by TFDS on first use; archives placed in
    `manual_dir` are used instead of the network. When an archive is needed and its host cannot be
    reached, `DownloadUnavailableError` (a one-line UserError saying which files to download by
    hand) is raised within seconds, before TFDS creates anything; a download or preparation that
    fails later raises it too, after removing the folders it left empty.
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
    if spec.offline:
        (train, test), info = _load(spec, kwargs)
    else:
        builder = tfds.builder(spec.tfds_name, data_dir=kwargs["data_dir"])
        if not builder.is_prepared():  # refuse in seconds, before TFDS creates anything
            check_downloads(spec.name, builder, manual_dir)
        try:
            with removing_new_folders(builder.data_dir_root):
                (train, test), info = _load(spec, kwargs)
        except Exception as err:
            needed = archives_to_download(builder, manual_dir)
            raise DownloadUnavailableError(
                f"could not download or prepare {spec.name} (TFDS {spec.tfds_name!r}) into "
                f"{str(builder.data_dir_root)!r}: {type(err).__name__}: {_first_line(err)}"
                + (f"; {by_hand(needed)}" if needed else "")
            ) from err
    arrays = {
        "x_train": np.asarray(train[0]),
        "y_train": np.asarray(train[1], dtype=np.int64),
        "x_test": np.asarray(test[0]),
        "y_test": np.asarray(test[1], dtype=np.int64),
    }
    return arrays, list(info.features["label"].names)


def _load(spec: DatasetSpec, kwargs: dict):
    try:
        return tfds.load(spec.tfds_name, **kwargs)
    except FileExistsError:
        # Another process (e.g. a parallel tuner worker) finished preparing the same dataset
        # first and TFDS' final rename collided: its copy is complete, so read that.
        return tfds.load(spec.tfds_name, **kwargs)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else "")[:300]
