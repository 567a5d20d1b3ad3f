"""Read a `.weights.h5` file that kzoo did not necessarily write: structure first, values bounded.

The file is opened once (a regular file of at most `MAX_WEIGHTS_BYTES`; FIFOs, devices and
directories refused) and hashed through the same descriptor that HDF5 then reads, so the sha256
recorded for a fine-tuning run is the hash of the bytes loaded. Its datasets are listed before any
value is read, with the rules of `kzoo.models.keras_weights` (hard links only, plain numeric dtypes,
no virtual or external storage); a value is read only for a dataset whose declared size is bounded
by the model it goes into (`read_values`).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

from kzoo.models.keras_archive import ArchiveRefused, open_regular_file
from kzoo.models.keras_weights import MAX_DEPTH, WeightsRefused, _check_dataset

MAX_WEIGHTS_BYTES = 2 << 30
MAX_DATASETS = 1 << 16
_CHUNK = 1 << 20


class ShaMismatch(WeightsRefused):
    """The file's sha256 is not the expected one (`.sha256` holds the one found)."""

    def __init__(self, sha256: str):
        super().__init__(f"has sha256 {sha256}")
        self.sha256 = sha256


class WeightsFile:
    """An open `.weights.h5` file: `shapes` (`{key: shape}` per dataset), the layer name Keras
    recorded for each group (`names`), its `sha256` and `size`; `read_values` reads chosen
    datasets from the same descriptor that was hashed.

    Example:
        >>> with WeightsFile("model.weights.h5") as f:
        ...     values = f.read_values(["layers/dense/vars/0"], max_bytes=1 << 20)
    """

    def __init__(self, path, expected_sha256: str | None = None):
        self.path = Path(path)
        self.expected_sha256 = expected_sha256
        self.shapes: dict[str, tuple] = {}
        self.names: dict[str, str] = {}
        self.sha256 = ""
        self.size = 0
        self._handle = self._file = None

    def __enter__(self) -> WeightsFile:
        import h5py

        try:
            fd = open_regular_file(self.path)
        except ArchiveRefused as err:
            raise WeightsRefused(err.rule.replace(".keras file", "weights file")) from None
        self._handle = os.fdopen(fd, "rb")
        try:
            self.size = os.fstat(fd).st_size
            if self.size > MAX_WEIGHTS_BYTES:
                raise WeightsRefused(
                    f"is {self.size:,} bytes, more than the {MAX_WEIGHTS_BYTES:,} kzoo reads"
                )
            digest = hashlib.sha256()
            for chunk in iter(lambda: self._handle.read(_CHUNK), b""):
                digest.update(chunk)
            self.sha256 = digest.hexdigest()
            # Known bytes are checked before HDF5 parses any: a damaged file can crash it.
            if self.expected_sha256 is not None and self.sha256 != self.expected_sha256:
                raise ShaMismatch(self.sha256)
            self._handle.seek(0)
            try:
                self._file = h5py.File(self._handle, "r")
            except (OSError, ValueError) as err:
                raise WeightsRefused(f"is not a readable HDF5 file ({_first_line(err)})") from None
            self._visit(self._file, "", 0, h5py)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
        if self._handle is not None:
            self._handle.close()
        self._file = self._handle = None

    def layer_name(self, key: str) -> str:
        """The layer name Keras stored beside the dataset `key` (else its group's path)."""
        group = key.rsplit("/vars/", 1)[0]
        return self.names.get(group, group)

    def read_values(self, keys, max_bytes: int) -> dict:
        """The values of `keys` as NumPy arrays; refused before any is read when they declare
        more than `max_bytes` in total."""
        import numpy as np

        keys = list(keys)
        declared = sum(math.prod(self.shapes[k]) * 8 for k in keys)
        if declared > max_bytes:
            raise WeightsRefused(
                f"the datasets to load declare {declared:,} bytes, more than the {max_bytes:,} "
                "the model's variables can hold"
            )
        try:
            return {k: np.asarray(self._file[k][()]) for k in keys}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise WeightsRefused(f"cannot be read ({_first_line(err)})") from None

    def _visit(self, group, where: str, depth: int, h5py) -> None:
        if depth > MAX_DEPTH:
            raise WeightsRefused(f"{where}: groups nested more than {MAX_DEPTH} deep")
        if where.endswith("vars/"):
            name = group.attrs.get("name")
            if isinstance(name, bytes):
                name = name.decode(errors="replace")
            if isinstance(name, str):
                self.names[where[: -len("/vars/")]] = name[:200]
        for key in group:
            item = f"{where}{key}"
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise WeightsRefused(f"{item}: is a {type(link).__name__} (it could read another file)")
            obj = group[key]
            if isinstance(obj, h5py.Group):
                self._visit(obj, f"{item}/", depth + 1, h5py)
                continue
            if not isinstance(obj, h5py.Dataset):
                raise WeightsRefused(f"{item}: is a {type(obj).__name__}, not a dataset")
            _check_dataset(obj, item, h5py)
            if len(self.shapes) >= MAX_DATASETS:
                raise WeightsRefused(f"holds more than {MAX_DATASETS} datasets")
            self.shapes[item] = tuple(int(d) for d in obj.shape)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def write_weights_file(model, path, *, dtype: str | None = None) -> None:
    """Write `model`'s weights in Keras' `.weights.h5` layout (`model.load_weights` reads it),
    leaving out the optimiser (a compiled model's `save_weights` writes its state too); floats are
    stored as `dtype` ("float16" halves the file) when given. Not atomic: write to a temporary
    name and rename (`kzoo.utils.files.atomic_save`)."""
    import h5py
    import numpy as np

    from kzoo import keras_private

    layout = {k: v for k, v in keras_private.weights_layout(model).items()
              if not k.startswith("optimizer/")}
    # HDF5's newest object headers and gzip take ResNet-20's float16 weights from 688 KB (h5py's
    # defaults) to 553 KB, for 541 KB of values. HDF5 stamps every object with its creation time
    # unless told not to (h5py has no switch for the root group or implicit groups): without the
    # stamps the same weights always give the same bytes, hence the same sha256 on a card.
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fid = h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
    with h5py.File(fid) as f:
        for key, variable in layout.items():
            value = np.asarray(variable.numpy())
            if dtype is not None and value.dtype.kind == "f":
                value = value.astype(dtype)
            _make_groups(f, key.rsplit("/", 1)[0])
            f.create_dataset(key, data=value, compression="gzip" if value.size >= 256 else None,
                             track_times=False)
            group = f[key.rsplit("/", 1)[0]]
            group.attrs["name"] = variable.path.rsplit("/", 1)[0]


def _make_groups(f, name: str) -> None:
    """Create the groups of `name` that do not exist yet, without creation times."""
    import h5py

    path = ""
    for part in name.split("/"):
        path = f"{path}/{part}" if path else part
        if path not in f:
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(False)
            h5py.h5g.create(f.id, path.encode(), gcpl=gcpl)
