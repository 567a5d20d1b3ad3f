"""`weights=`: every kind of source loads the same numbers, mismatches are refused by layer name, a
classifier of other classes is replaced (and said so), hostile files are refused before a value
is read."""

import json
import warnings

import h5py
import keras
import numpy as np
import pytest

import kzoo
import kzoo.models.efficientnet
import kzoo.models.mobilenet
import kzoo.models.recurrent
import kzoo.models.resnext
import kzoo.models.vgg
from kzoo.export import save_keras
from kzoo.models.pretrained import ClassifierReplaced, IncompatibleWeightsError
from kzoo.models.resnet import resnet_cifar
from kzoo.training.config import TrainConfig
from kzoo.utils.errors import UserError

SMALL = {"depth": 3, "width": 8, "input_shape": (8, 8, 1)}


def small(classes=10, **kwargs):
    return kzoo.create_model("plain_cnn", classes=classes, **{**SMALL, **kwargs})


def scramble(model, seed):
    """Weights unlike any initialisation (BN statistics included), so a load that skipped a
    variable cannot pass by accident."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype(v.dtype))
    return model


@pytest.fixture
def trained(tmp_path):
    model = scramble(small(), 0)
    model.save_weights(tmp_path / "cnn.weights.h5")
    save_keras(model, tmp_path / "cnn.keras")
    return model


def values(model):
    return {v.path: np.asarray(v.numpy()) for v in model.weights}


def same_weights(a, b, skip=()):
    va, vb = values(a), values(b)
    assert set(va) == set(vb)
    for path in va:
        if not path.startswith(skip):
            np.testing.assert_array_equal(va[path], vb[path], err_msg=path)


@pytest.mark.parametrize("source", ["cnn.weights.h5", "cnn.keras"])
def test_a_file_loads_every_variable_bit_for_bit(trained, tmp_path, source):
    loaded = kzoo.create_model("plain_cnn", weights=tmp_path / source, **SMALL)
    same_weights(trained, loaded)
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(loaded(x), trained(x))


def finished_run(tmp_path, model, dataset="digits"):
    """A run directory as `kzoo.training.train` leaves it (config, normalisation, model, metrics)."""
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(model="plain_cnn", dataset=dataset, run_dir=str(run),
                         model_kwargs={"depth": 3, "width": 8})
    (run / "config.json").write_text(json.dumps(
        {"fingerprint": config.fingerprint(), "config": config.to_dict(), "replicas": 1}))
    (run / "normalization.json").write_text(json.dumps(
        {"dataset": dataset, "num_classes": 10, "input_shape": [8, 8, 1], "mean": [0.0],
         "std": [1.0], "raw_dtype": "uint8", "class_names": [str(i) for i in range(10)]}))
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.5}))
    save_keras(model, run / "model.keras")
    return run


def test_a_run_directory_gives_its_architecture_and_weights(trained, tmp_path):
    run = finished_run(tmp_path, trained)
    loaded = kzoo.create_model("plain_cnn", weights=run)  # depth, width, shape from the run
    assert loaded.input_shape == (None, 8, 8, 1)
    same_weights(trained, loaded)
    (run / "metrics.json").unlink()
    with pytest.raises(UserError, match="not a finished run"):
        kzoo.create_model("plain_cnn", weights=run)


def test_other_classes_replace_the_classifier_and_say_so(trained, tmp_path):
    with pytest.warns(ClassifierReplaced, match="checkpoint has 10 classes and the model 5"):
        five = kzoo.create_model("plain_cnn", weights=tmp_path / "cnn.weights.h5", classes=5,
                                 **SMALL)
    mine, theirs = values(five), values(trained)
    for path, value in mine.items():
        if not path.startswith("predictions/"):
            np.testing.assert_array_equal(value, theirs[path], err_msg=path)
    assert mine["predictions/kernel"].shape == (32, 5)
    # The fresh classifier is Keras' initialisation (zero bias), not a slice of the checkpoint.
    np.testing.assert_array_equal(mine["predictions/bias"], np.zeros(5, "float32"))


def test_include_top_false_takes_the_backbone_only(trained, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no classifier in the model: nothing to say
        features = kzoo.create_model("plain_cnn", weights=tmp_path / "cnn.keras",
                                     include_top=False, pooling="avg", **SMALL)
    assert features.output_shape == (None, 32)
    for v in features.weights:
        np.testing.assert_array_equal(v.numpy(), values(trained)[v.path])


@pytest.mark.parametrize("source", ["cnn.weights.h5", "cnn.keras"])
def test_another_architecture_is_refused_naming_the_layer(trained, tmp_path, source):
    with pytest.raises(IncompatibleWeightsError, match=r"layer 'conv_2' differs: conv_2/kernel "
                       r"has shape \(3, 3, 8, 16\) in the checkpoint and \(3, 3, 8, 8\)"):
        kzoo.create_model("plain_cnn", weights=tmp_path / source, **{**SMALL, "depth": 4})
    with pytest.raises(IncompatibleWeightsError, match="layer 'conv_1' differs.*"
                       r"\(3, 3, 1, 8\) in the checkpoint and \(3, 3, 3, 8\)"):
        kzoo.create_model("plain_cnn", weights=tmp_path / source, **{**SMALL, "input_shape": (8, 8, 3)})


def test_a_deeper_checkpoint_names_its_extra_layer(tmp_path):
    save_keras(small(depth=3, stages=1), tmp_path / "deep.keras")
    with pytest.raises(IncompatibleWeightsError, match="the checkpoint has layer 'conv_3/kernel'"):
        kzoo.create_model("plain_cnn", weights=tmp_path / "deep.keras", stages=1,
                          **{**SMALL, "depth": 2})


def test_family_builders_take_weights(tmp_path):
    model = scramble(resnet_cifar(8, input_shape=(8, 8, 1), classes=10), 3)
    model.save_weights(tmp_path / "r8.weights.h5")
    again = resnet_cifar(8, input_shape=(8, 8, 1), classes=10, weights=tmp_path / "r8.weights.h5")
    same_weights(model, again)


IMAGE = {"input_shape": (32, 32, 3), "classes": 3}


@pytest.mark.parametrize("build, data", [
    (lambda **kw: kzoo.models.vgg.vgg_cifar(11, widths=(4, 4, 8, 8, 8), fc_units=8, **kw), IMAGE),
    (lambda **kw: kzoo.models.mobilenet.mobilenet_v2(alpha=0.25, small_inputs=True, **kw), IMAGE),
    (lambda **kw: kzoo.models.resnext.resnext_cifar(11, cardinality=2, group_width=2, **kw), IMAGE),
    (lambda **kw: kzoo.models.efficientnet.efficientnet(width_coefficient=0.1,
                                                        depth_coefficient=0.1, **kw), IMAGE),
    (lambda **kw: kzoo.models.recurrent.recurrent_net("gru", units=4, depth=1, **kw),
     {"input_shape": (6, 1), "classes": 3}),
], ids=["vgg", "mobilenet", "resnext", "efficientnet", "recurrent"])
def test_the_case_study_builders_take_weights_too(build, data, tmp_path):
    model = scramble(build(**data), 5)
    model.save_weights(tmp_path / "m.weights.h5")
    same_weights(model, build(**data, weights=tmp_path / "m.weights.h5"))


@pytest.mark.parametrize("weights, match", [
    ("nonexistent/run", "no such file"),
    ("imagenet", "neither a file or directory nor registered weights of 'plain_cnn'"),
    (3, "must be None, a path"),
])
def test_unknown_sources_are_refused_before_building(weights, match):
    with pytest.raises(UserError, match=match):
        kzoo.create_model("plain_cnn", weights=weights, **SMALL)


def test_a_weights_file_that_reads_another_file_is_refused(trained, tmp_path):
    hostile = tmp_path / "link.weights.h5"
    with h5py.File(hostile, "w") as f:
        f["layers/conv1d/vars/0"] = h5py.ExternalLink(str(tmp_path / "cnn.weights.h5"), "/")
    with pytest.raises(UserError, match="ExternalLink"):
        kzoo.create_model("plain_cnn", weights=hostile, **SMALL)


def test_a_huge_declared_classifier_is_never_read(trained, tmp_path):
    """A classifier dataset declaring 4 GB (chunked, never written: a few KB on disk) does not fit
    the model, so it is replaced without a value of it being read (only datasets of a model
    variable's exact shape are ever read)."""
    hostile = tmp_path / "huge.weights.h5"
    with h5py.File(tmp_path / "cnn.weights.h5") as src, h5py.File(hostile, "w") as dst:
        for key in ("layers", "vars"):
            if key in src:
                src.copy(src[key], dst, key)
        kernel = [k for k in _datasets(dst) if dst[k].shape == (32, 10)][0]
        del dst[kernel]
        dst.create_dataset(kernel, shape=(32, 1 << 25), dtype="float32", chunks=(32, 1024))
    with pytest.warns(ClassifierReplaced, match=f"has {1 << 25} classes and the model 10"):
        loaded = kzoo.create_model("plain_cnn", weights=hostile, **SMALL)
    theirs = values(trained)
    for path, value in values(loaded).items():
        if not path.startswith("predictions/"):
            np.testing.assert_array_equal(value, theirs[path])


def _datasets(f):
    found = []
    f.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_the_h5_layout_matches_what_keras_writes(tmp_path):
    from kzoo import keras_private

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dropout(0.1),
                              keras.layers.Dense(2)])
    model.save_weights(tmp_path / "m.weights.h5")
    layout = keras_private.weights_layout(model)
    with h5py.File(tmp_path / "m.weights.h5") as f:
        on_disk = {k: f[k].shape for k in _datasets(f)}
    assert {k: tuple(v.shape) for k, v in layout.items()} == on_disk


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e300])
def test_weights_that_are_not_finite_are_refused_before_any_is_assigned(trained, tmp_path, bad):
    """A diverged checkpoint (NaN), or float64 values beyond float32, used to load silently: a
    fine-tuning run from it trained at chance level (20% on digits_0to4) without a word."""
    hostile = tmp_path / "bad.weights.h5"
    with h5py.File(tmp_path / "cnn.weights.h5") as src, h5py.File(hostile, "w") as dst:
        for key in src:
            src.copy(src[key], dst, key)
        kernel = [k for k in _datasets(dst) if dst[k].shape == (32, 10)][0]
        value = dst[kernel][()].astype("float64")
        value[3, 4] = bad
        del dst[kernel]
        dst[kernel] = value
    with pytest.raises(IncompatibleWeightsError, match=r"predictions/kernel \(.*\) holds NaN or "
                       r"infinite values \(as float32\)"):
        kzoo.create_model("plain_cnn", weights=hostile, **SMALL)
