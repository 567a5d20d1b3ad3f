"""`weights=` and `kzoo finetune` hash their source before building anything: a source that is a
FIFO or a link to a device was read without end (the command hung); it is refused in one line."""

from __future__ import annotations

import os

import pytest

import kzoo
from kzoo.models.pretrained import resolve_weights, source_sha256
from kzoo.utils.errors import UserError

from .conftest import deadline


@pytest.mark.parametrize("name", ["fifo.keras", "fifo.weights.h5", "zero.keras", "zero.weights.h5",
                                  "dangling.weights.h5"])
def test_a_special_file_as_weights_is_refused_not_read(name, tmp_path):
    path = tmp_path / name
    if name.startswith("fifo"):
        os.mkfifo(path)
    elif name.startswith("zero"):
        path.symlink_to("/dev/zero")
    else:
        path.symlink_to(tmp_path / "nothing")
    match = "link to nothing" if name.startswith("dangling") else "is a (FIFO|device), not a regular"
    with deadline(20, "hashing a special file"):
        with pytest.raises(UserError, match=match):
            source_sha256(resolve_weights(str(path)))
        with pytest.raises(UserError, match=match):
            kzoo.create_model("plain_mlp", weights=str(path), classes=3, input_shape=(4,))
