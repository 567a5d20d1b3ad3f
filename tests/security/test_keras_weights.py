"""Hostile `model.weights.h5` members: shape bombs, datasets that read other files, odd types.

The weights are checked against the model the config builds before Keras reads a value: each case
is refused by `load_keras` and `kzoo export` with nothing published, and the memory bomb without
allocating what it declares.
"""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest

from kzoo.export import UnsafeModelFileError, list_versions, load_keras

from .conftest import Case, run_api, run_cli_in_process
from .crafting import keras_members, write_zip

KERNEL = "layers/dense/vars/0"  # the (16, 3) kernel of the tiny model's classifier
PEAK_LIMIT = 32 << 20


def _case(tmp_path, g, edit, match, bounded=False) -> Case:
    source = tmp_path / "genuine.weights.h5"
    source.write_bytes(g.parts["model.weights.h5"])
    with h5py.File(source, "r+") as f:
        edit(f, tmp_path)
    path = tmp_path / "crafted.keras"
    write_zip(path, keras_members({**g.parts, "model.weights.h5": source.read_bytes()}))
    root = tmp_path / "root"

    def api():
        tracemalloc.start()
        try:
            load_keras(path)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert not bounded or peak < PEAK_LIMIT, f"peak Python memory {peak:,} bytes"

    return Case(
        argv=["export", str(path), "--name", "m", "--root", str(root)], api=api, match=match,
        error=UnsafeModelFileError, check=lambda: list_versions(root / "m") == [] or _fail(root),
    )


def _fail(root):
    raise AssertionError(f"a version was published under {root}")


def _replace(f, name, **kwargs):
    del f[name]
    f.create_dataset(name, **kwargs)


def a_160_mib_kernel(tmp_path, g):
    # Chunked and compressed with nothing written: 160 MiB declared, a few kilobytes stored.
    def edit(f, _):
        _replace(f, KERNEL, shape=(40 << 20,), dtype="float32", chunks=(1 << 20,),
                 compression="gzip", fillvalue=1.0)

    return _case(tmp_path, g, edit, r"model\.weights\.h5 /layers/dense/vars/0: has shape \(41943040,\)",
                 bounded=True)


def a_kernel_of_the_wrong_shape(tmp_path, g):
    def edit(f, _):
        _replace(f, KERNEL, data=np.zeros((3, 16), "float32"))

    return _case(tmp_path, g, edit, r"has shape \(3, 16\) .*which no variable of the model has")


def a_thousand_extra_scalars(tmp_path, g):
    def edit(f, _):
        extra = f.create_group("extra")
        for i in range(1_000):
            extra.create_dataset(str(i), data=np.float32(i))

    return _case(tmp_path, g, edit, r"(more than \d+ datasets|more datasets of shape \(\))")


def an_external_link(tmp_path, g):
    def edit(f, folder):
        other = folder / "elsewhere.h5"
        with h5py.File(other, "w") as o:
            o.create_dataset("kernel", data=np.full((16, 3), 7.0, "float32"))
        del f[KERNEL]
        f[KERNEL] = h5py.ExternalLink(str(other), "/kernel")

    return _case(tmp_path, g, edit, r"/layers/dense/vars/0: is a ExternalLink")


def a_soft_link(tmp_path, g):
    def edit(f, _):
        del f[KERNEL]
        f[KERNEL] = h5py.SoftLink("/layers/conv2d/vars/0")

    return _case(tmp_path, g, edit, r"/layers/dense/vars/0: is a SoftLink")


def external_storage_reading_a_user_file(tmp_path, g):
    def edit(f, folder):
        secret = folder / "secret.bin"
        secret.write_bytes(np.arange(48, dtype="float32").tobytes())
        del f[KERNEL]
        f.create_dataset(KERNEL, shape=(16, 3), dtype="float32", external=[(str(secret), 0, 192)])

    return _case(tmp_path, g, edit, r"keeps its values in external files")


def a_virtual_dataset(tmp_path, g):
    def edit(f, folder):
        other = folder / "source.h5"
        with h5py.File(other, "w") as o:
            o.create_dataset("data", data=np.ones((16, 3), "float32"))
        layout = h5py.VirtualLayout(shape=(16, 3), dtype="float32")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(16, 3))
        del f[KERNEL]
        f.create_virtual_dataset(KERNEL, layout)

    return _case(tmp_path, g, edit, r"is a virtual dataset")


def a_string_dataset(tmp_path, g):
    def edit(f, _):
        _replace(f, KERNEL, data=np.array([["x"] * 3] * 16, dtype=h5py.string_dtype()))

    return _case(tmp_path, g, edit, r"has dtype object, not a plain numeric type")


def weights_that_are_not_hdf5(tmp_path, g):
    path = tmp_path / "crafted.keras"
    write_zip(path, keras_members({**g.parts, "model.weights.h5": b"not an HDF5 file" * 64}))
    root = tmp_path / "root"
    return Case(
        argv=["export", str(path), "--name", "m", "--root", str(root)],
        api=lambda: load_keras(path), match=r"model\.weights\.h5 is not a readable HDF5 file",
        error=UnsafeModelFileError,
    )


CASES = [
    a_160_mib_kernel, a_kernel_of_the_wrong_shape, a_thousand_extra_scalars, an_external_link,
    a_soft_link, external_storage_reading_a_user_file, a_virtual_dataset, a_string_dataset,
    weights_that_are_not_hdf5,
]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_the_python_api(make, tmp_path, genuine):
    run_api(make(tmp_path, genuine))


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_kzoo_export(make, tmp_path, genuine, capsys):
    run_cli_in_process(make(tmp_path, genuine), capsys)


def test_the_160_mib_kernel_is_a_real_memory_bomb(tmp_path, genuine):
    """Control: reading the crafted dataset (as Keras would) allocates everything it declares."""
    a_160_mib_kernel(tmp_path, genuine)
    source = tmp_path / "genuine.weights.h5"
    with h5py.File(source, "r") as f:
        assert source.stat().st_size < 1 << 20
        assert f[KERNEL].shape == (40 << 20,)
        assert f[KERNEL][: 1 << 20].mean() == 1.0  # filled on read: the rest is the same


def test_optimizer_slots_of_a_compiled_model_pass(tmp_path):
    """A genuine compiled model (Adam's two slots per variable, scalars) loads with its optimizer."""
    import keras

    from kzoo.export import save_keras

    from .conftest import tiny_model

    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3, amsgrad=True), loss="mse")
    model.optimizer.build(model.trainable_variables)
    for v in model.optimizer.variables:  # distinct values, so a mix-up would show
        v.assign(np.random.default_rng(len(v.path)).random(v.shape).astype(v.dtype))
    loaded = load_keras(save_keras(model, tmp_path / "compiled.keras"))
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_model_saved_with_two_optimizers_loads(tmp_path):
    """`kzoo finetune`'s default (--backbone-lr-mult 0.1) compiles a MultiOptimizer of two Adams,
    each with two slots for every variable: 5 copies of each shape, which the one-optimizer budget
    refused, so its run could not be exported, evaluated or predicted with."""
    import keras

    from kzoo.export import save_keras

    from .conftest import tiny_model

    model = tiny_model()
    mapping = keras.optimizers.OptimizerMap(
        default_optimizer=keras.optimizers.Adam(1e-3),
        optimizer_map={"(?!predictions/).*": keras.optimizers.Adam(1e-4)},
    )
    model.compile(optimizer=keras.optimizers.MultiOptimizer(mapping), loss="mse")
    model.optimizer.build(model.trainable_variables)
    path = save_keras(model, tmp_path / "two_optimizers.keras")
    loaded = load_keras(path, compile=False)
    for a, b in zip(loaded.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
