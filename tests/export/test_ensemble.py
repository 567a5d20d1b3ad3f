"""kzoo ensemble: members rebuilt from their exports (no graph run), refused when they disagree,
one verified SavedModel averaging them that scores at least its best member; weights= from a
SavedModel version."""

import itertools
import json
import os
import shutil

import keras
import numpy as np
import pytest

import kzoo
from kzoo.export.ensemble import (
    Member,
    build_ensemble,
    check_members,
    export_ensemble,
    member_probabilities,
    shared_range,
)
from kzoo.models.saved_model_weights import SavedModelWeightsError, load_saved_model_weights
from kzoo.utils.errors import UserError
from tests.export.conftest import small_model

_SOURCES = itertools.count()


def _member(model, classes=None, shape=(8, 8, 1), dtype="uint8", mean=3.0, std=2.0,
            raw_range=None):
    names = classes or [str(i) for i in range(model.output_shape[-1])]
    source = f"member{next(_SOURCES)}"  # each a distinct (made-up) path
    return Member(source, model, shape, dtype, np.asarray([mean], "float32"),
                  np.asarray([std], "float32"), names, False, "digits", None, "m",
                  raw_range=raw_range)


def test_the_members_range_is_the_ensembles_and_a_member_without_one_joins_it():
    a = small_model()
    members = [_member(a), _member(a, raw_range=(0, 16)), _member(a, raw_range=(0, 16))]
    check_members(members)
    assert shared_range(members) == (0, 16)
    assert shared_range([_member(a), _member(a)]) is None


def test_the_ensemble_averages_each_members_normalised_probabilities(rng):
    a, b = small_model(), small_model()
    members = [_member(a, mean=3.0, std=2.0), _member(b, mean=5.0, std=4.0)]
    x = rng.integers(0, 17, size=(6, 8, 8, 1)).astype("float32")
    pa = a((x - 3.0) / 2.0).numpy()
    pb = b((x - 5.0) / 4.0).numpy()
    np.testing.assert_allclose(build_ensemble(members)(x), (pa + pb) / 2, rtol=1e-5, atol=1e-6)
    weighted = build_ensemble(members, "arithmetic", [3.0, 1.0])(x)
    np.testing.assert_allclose(weighted, 0.75 * pa + 0.25 * pb, rtol=1e-5, atol=1e-6)
    geometric = np.sqrt(pa * pb)
    np.testing.assert_allclose(build_ensemble(members, "geometric")(x),
                               geometric / geometric.sum(-1, keepdims=True), rtol=1e-4)


def test_a_member_is_traced_once_for_every_batch_size(rng):
    model = small_model()
    member = _member(model)
    for n in (16, 180, 5):
        x = rng.integers(0, 17, size=(n, 8, 8, 1))
        np.testing.assert_allclose(member_probabilities(member, x),
                                   model((x - 3.0) / 2.0, training=False), rtol=1e-5, atol=1e-6)
    assert member.infer.experimental_get_tracing_count() == 1


def test_members_that_disagree_are_refused():
    a, b = small_model(), small_model(classes=5)
    with pytest.raises(UserError, match=r"disagree on the classes: 'member\d+' has 10"):
        check_members([_member(a), _member(b)])
    with pytest.raises(UserError, match=r"disagree on the input: 'member\d+' takes uint8"):
        check_members([_member(a), _member(small_model(), dtype="float32")])
    with pytest.raises(UserError, match="disagree on the classes"):
        check_members([_member(a), _member(small_model(), classes=list("abcdefghij"))])
    with pytest.raises(UserError, match=r"'member\d+' was trained on values in 0..16, 'member\d+' on 0..255"):
        check_members([_member(a, raw_range=(0, 16)), _member(a, raw_range=(0, 255))])
    with pytest.raises(UserError, match="at least 2 members"):
        check_members([_member(a)])
    with pytest.raises(UserError, match="2 weights for 3 members|gives 2 weights"):
        build_ensemble([_member(a)] * 3, weights=[1.0, 2.0])


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """Three plain CNNs trained on digits by the engine with seeds 0, 1, 2, each exported."""
    from kzoo.export import export_run
    from kzoo.training import TrainConfig, train

    root = tmp_path_factory.mktemp("ensemble")
    exports = []
    for seed in range(3):
        config = TrainConfig(model="plain_cnn", dataset="digits", run_dir=str(root / f"run{seed}"),
                             model_kwargs={"depth": 5, "width": 8}, epochs=6, batch_size=32,
                             optimizer="adam", learning_rate=3e-3, schedule="cosine", seed=seed,
                             verbose=0, tensorboard=False)
        train(config)
        exports.append(export_run(root / f"run{seed}", f"cnn{seed}", root=root / "saved_models"))
    return root, exports


@pytest.mark.slow
def test_an_ensemble_of_digits_models_scores_at_least_its_best_member(digits_runs, capsys):
    from kzoo.cli import main
    from kzoo.evaluation import evaluate
    from kzoo.export import load_saved_model, read_metadata

    root, exports = digits_runs
    models = root / "saved_models"
    assert main(["ensemble", *(str(models / f"cnn{s}") for s in range(3)), "--name", "ens",
                 "--root", str(models)]) == 0
    out = capsys.readouterr().out
    assert "the arithmetic mean of 3 members" in out
    meta = read_metadata(models / "ens" / "1")
    members = meta["extra"]["ensemble"]["members"]
    assert [m["label"] for m in members] == ["cnn0 v1", "cnn1 v1", "cnn2 v1"]
    assert all(m["max_abs_diff_from_its_saved_model"] <= 1e-4 for m in members)
    # The members' raw range (digits: 0..16) is the ensemble's, checked when it is served.
    assert meta["signature"]["input"]["range"] == [0, 16]
    # Each member's test accuracy equals what its own run measured.
    for m, export in zip(members, exports, strict=True):
        run_metrics = read_metadata(export)["metrics"]
        assert m["test_accuracy"] == pytest.approx(run_metrics["test_accuracy"], abs=1e-6)
    best = max(m["test_accuracy"] for m in members)
    assert meta["metrics"]["best_member_test_accuracy"] == best
    assert meta["metrics"]["test_accuracy"] >= best
    # Served from raw pixels like any export, and evaluated beside its members.
    arrays = kzoo.data.load_arrays("digits")
    served = load_saved_model(models / "ens")
    predicted = served.predict(arrays["x_test"])["class_id"]
    assert np.mean(predicted == arrays["y_test"]) == pytest.approx(meta["metrics"]["test_accuracy"])
    report = evaluate(models / "ens", out_dir=root / "evaluation")
    assert [r["member"] for r in report["members"]] == ["cnn0 v1", "cnn1 v1", "cnn2 v1"]
    assert [r["accuracy"] for r in report["members"]] == pytest.approx(
        [m["test_accuracy"] for m in members])
    # The ensemble's own export rebuilds from its files too (nested members, no graph run).
    rebuilt, _, _ = load_saved_model_weights(models / "ens")
    x = arrays["x_test"][:32].astype("float32")
    np.testing.assert_allclose(rebuilt(x), served.predict(arrays["x_test"][:32])["probabilities"],
                               atol=1e-5)


@pytest.mark.slow
def test_weights_from_a_saved_model_version(digits_runs, tmp_path):
    root, exports = digits_runs
    run = json.loads((root / "run0" / "config.json").read_text())["config"]
    from_run = kzoo.create_model("plain_cnn", weights=root / "run0")
    from_export = kzoo.create_model("plain_cnn", weights=exports[0])  # builder record: the rest
    assert from_export.input_shape == (None, 8, 8, 1) and run["model_kwargs"]["depth"] == 5
    for a, b in zip(from_run.weights, from_export.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Variables changed after the export are refused (the metadata's sha256).
    copy = tmp_path / "cnn0" / "1"
    shutil.copytree(exports[0], copy)
    data = next(p for p in (copy / "variables").iterdir() if p.name.startswith("variables.data"))
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 1
    data.write_bytes(bytes(blob))
    with pytest.raises(SavedModelWeightsError, match="does not match the sha256"):
        kzoo.create_model("plain_cnn", weights=copy)
    # A link inside the version is not followed.
    os.remove(copy / "assets.extra" / "kzoo_metadata.json")
    os.symlink(exports[0] / "assets.extra" / "kzoo_metadata.json",
               copy / "assets.extra" / "kzoo_metadata.json")
    with pytest.raises(SavedModelWeightsError, match="follows no link"):
        kzoo.create_model("plain_cnn", weights=copy)


@pytest.mark.slow
def test_an_ensemble_of_other_classes_is_refused_before_anything_is_written(digits_runs, tmp_path):
    from kzoo.export import export_saved_model

    root, exports = digits_runs
    five = small_model(classes=5)
    keras.utils.set_random_seed(0)
    other = export_saved_model(five, "five", root=tmp_path, raw_dtype="uint8")
    with pytest.raises(UserError, match="disagree on the classes"):
        export_ensemble([exports[0], other], "bad", root=tmp_path)
    assert not (tmp_path / "bad").exists()


def test_the_same_member_twice_is_refused(tmp_path):
    a = _member(small_model())
    b = _member(small_model())
    b.source = str(tmp_path / "." / "m")  # another spelling of one path
    a.source = str(tmp_path / "m")
    with pytest.raises(UserError, match="are the same model"):
        check_members([a, b])
