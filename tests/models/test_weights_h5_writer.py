"""`write_weights_file` (snapshots, `kzoo publish`): the same weights always give the same bytes --
no HDF5 creation times -- and Keras and kzoo's loader read them back."""

import h5py
import numpy as np

import kzoo
from kzoo.models.pretrained import WeightsSource, load_pretrained
from kzoo.models.weights_h5 import write_weights_file


def _model(seed):
    import keras

    keras.utils.set_random_seed(seed)
    return kzoo.create_model("plain_mlp", depth=2, width=8, input_shape=(4,), classes=3)


def test_the_same_weights_give_the_same_bytes_and_load_back(tmp_path):
    model = _model(0)
    first, second = tmp_path / "a.weights.h5", tmp_path / "b.weights.h5"
    write_weights_file(model, first)
    with h5py.File(first) as f:
        names = [b"."]
        f.visit(lambda name: names.append(name.encode()))
        stamps = {n: h5py.h5g.get_objinfo(f.id, n).mtime for n in names}
    assert len(stamps) > 3 and set(stamps.values()) == {0}, stamps  # HDF5 stores seconds
    write_weights_file(model, second)
    assert first.read_bytes() == second.read_bytes()

    for load in ("keras", "kzoo"):
        other = _model(1)
        assert not all(np.array_equal(a, b)
                       for a, b in zip(other.get_weights(), model.get_weights(), strict=True))
        if load == "keras":
            other.load_weights(first)
        else:
            load_pretrained(other, WeightsSource("weights_h5", first, str(first)))
        for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
