"""Fine-tuning: initial weights with their sha256 in the fingerprint, frozen layers bit-identical
with their batch norm in inference mode, discriminative learning rates."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import kzoo
from kzoo.export import save_keras
from kzoo.training import TrainConfig, rundir, train
from kzoo.training.engine import compile_for_training
from kzoo.training.transfer import freeze_layers, resolve_init
from kzoo.utils.errors import UserError

SMALL = {"depth": 3, "width": 8}


def _config(tmp_path, **kw):
    base = dict(model="plain_cnn", model_kwargs=dict(SMALL), dataset="digits",
                run_dir=str(tmp_path / "run"), epochs=2, batch_size=32, optimizer="momentum",
                learning_rate=0.05, max_steps_per_epoch=3, verbose=0, tensorboard=False)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def source(tmp_path):
    model = kzoo.create_model("plain_cnn", classes=10, input_shape=(8, 8, 1), **SMALL)
    return save_keras(model, tmp_path / "source.keras")


def test_existing_runs_keep_their_fingerprints(tmp_path):
    """Every setting added for fine-tuning, ensembles and averaging is fingerprinted only when
    set, so runs made before them resume."""
    config = _config(tmp_path)
    new = {"init_from", "init_from_sha256", "freeze", "backbone_lr_multiplier", "snapshots",
           "weight_averaging", "ema_momentum", "swa_start"}
    assert not new & set(config.fingerprint_fields())
    changed = dataclasses.replace(config, freeze="backbone")
    assert changed.fingerprint_fields()["freeze"] == "backbone"
    assert changed.fingerprint() != config.fingerprint()


def test_the_source_sha256_joins_the_fingerprint_and_a_wrong_one_is_refused(tmp_path, source):
    import hashlib

    config = resolve_init(_config(tmp_path, init_from=str(source)))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert config.init_from_sha256 == digest
    assert config.fingerprint_fields()["init_from_sha256"] == digest
    wrong = _config(tmp_path, init_from=str(source), init_from_sha256="0" * 64)
    with pytest.raises(UserError, match=f"its sha256 is {digest}, not the --init-from-sha256 0000"):
        resolve_init(wrong)
    # The run directory remembers the digest: other bytes behind the same name are another run.
    rundir.prepare_run_dir(config, "new")
    save_keras(kzoo.create_model("plain_cnn", classes=10, input_shape=(8, 8, 1), **SMALL),
               source, overwrite=True)
    with pytest.raises(ValueError, match=f"init_from_sha256: '{digest}' -> '"):
        rundir.check_run_dir(resolve_init(_config(tmp_path, init_from=str(source))))


def _frozen_fit(config, x, y):
    model = kzoo.create_model("plain_cnn", classes=10, input_shape=(8, 8, 1), **SMALL)
    before = {v.path: v.numpy().copy() for v in model.weights}
    model = compile_for_training(config, model, steps=4)
    model.fit(x, keras.ops.one_hot(y, 10), batch_size=16, epochs=1, verbose=0)
    after = {v.path: v.numpy() for v in model.weights}
    return before, after, model


def test_a_frozen_backbone_is_bit_identical_after_training(tmp_path, digits_split):
    x, y = digits_split["x_train"][:64], digits_split["y_train"][:64]
    before, after, model = _frozen_fit(_config(tmp_path, freeze="backbone", weight_decay=1e-3), x, y)
    changed = sorted(p for p in before if not np.array_equal(before[p], after[p]))
    assert changed == ["predictions/bias", "predictions/kernel"]  # BN statistics included
    assert all(not layer.trainable for layer in model.layers if layer.name.startswith("norm_"))


def test_freeze_by_count_and_by_prefix(tmp_path, digits_split):
    x, y = digits_split["x_train"][:32], digits_split["y_train"][:32]
    before, after, _ = _frozen_fit(_config(tmp_path, freeze="2"), x, y)
    same = sorted(p for p in before if np.array_equal(before[p], after[p]))
    assert same == ["conv_1/kernel", "norm_1/beta", "norm_1/gamma", "norm_1/moving_mean",
                    "norm_1/moving_variance"]
    model = kzoo.create_model("plain_cnn", classes=10, input_shape=(8, 8, 1), **SMALL)
    assert freeze_layers(model, "norm") == ["norm_1", "norm_2", "norm_3"]
    with pytest.raises(UserError, match="no layer with weights starts with it"):
        freeze_layers(model, "stage9")
    with pytest.raises(UserError, match="freeze 1 to 6 of them"):
        freeze_layers(model, "7")


def test_a_prefix_never_freezes_the_classifier():
    """`--freeze predictions` (or any prefix of it) used to freeze the classifier, which on a new
    task starts from random weights: the run then trained nothing that could learn the task."""
    model = kzoo.create_model("plain_mlp", classes=5, input_shape=(64,), depth=2, width=8)
    with pytest.raises(UserError, match="names only the classifier"):
        freeze_layers(model, "pred")
    assert model.get_layer("predictions").trainable
    assert freeze_layers(model, "dense") == ["dense_1", "dense_2"]
    assert model.get_layer("predictions").trainable


def test_a_frozen_batch_norm_runs_in_inference_mode(rng):
    """In a frozen residual block, training=True normalises with the moving statistics (and
    leaves them alone), like inference; an unfrozen block normalises with the batch's."""
    model = kzoo.create_model("resnet20", classes=10, input_shape=(8, 8, 1))
    for v in model.weights:  # statistics far from a batch's, so the two modes differ
        if "moving" in v.path:
            v.assign(np.full(v.shape, 2.0 if "variance" in v.path else 0.5, "float32"))
    freeze_layers(model, "stage1")
    x = rng.normal(size=(16, 8, 8, 16)).astype("float32")
    frozen, free = model.get_layer("stage1_block1"), model.get_layer("stage2_block1")
    stats = [v.numpy().copy() for v in frozen.weights]
    # Inference folds each batch norm into its convolution: equal up to float rounding.
    np.testing.assert_allclose(frozen(x, training=True), frozen(x, training=False), atol=1e-5)
    for before, v in zip(stats, frozen.weights, strict=True):
        np.testing.assert_array_equal(before, v.numpy())
    assert np.abs(free(x, training=True) - free(x, training=False)).max() > 0.1


def test_the_backbone_learns_at_its_multiplier(tmp_path, digits_split):
    """Plain SGD: each backbone step is `backbone_lr_multiplier` times the step at rate 1."""
    x, y = digits_split["x_train"][:32], keras.ops.one_hot(digits_split["y_train"][:32], 10)
    steps = {}
    for mult in (1.0, 0.25):
        keras.utils.set_random_seed(3)
        config = _config(tmp_path, optimizer="sgd", learning_rate=0.1, backbone_lr_multiplier=mult)
        model = kzoo.create_model("plain_cnn", classes=10, input_shape=(8, 8, 1), **SMALL)
        model = compile_for_training(config, model, steps=1)
        start = {v.path: v.numpy().copy() for v in model.trainable_variables}
        model.train_on_batch(x, y)
        steps[mult] = {v.path: v.numpy() - start[v.path] for v in model.trainable_variables}
    for path, full in steps[1.0].items():
        factor = 1.0 if path.startswith("predictions/") else 0.25
        np.testing.assert_allclose(steps[0.25][path], factor * full, rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_fine_tuning_a_run_on_another_dataset(tmp_path):
    """Pretrain on digits 0-4, fine-tune on digits 5-9: a fresh 5-class classifier, the frozen
    layers bit-identical, the run's sha256 recorded, and a rerun resumes (finished) instead of
    refusing."""
    pre = train(_config(tmp_path, dataset="digits_0to4", run_dir=str(tmp_path / "pre"),
                        epochs=3, max_steps_per_epoch=None, optimizer="adam",
                        learning_rate=3e-3))
    config = _config(tmp_path, dataset="digits_5to9", run_dir=str(tmp_path / "ft"),
                     init_from=str(tmp_path / "pre"), freeze="2", backbone_lr_multiplier=0.1,
                     epochs=3, max_steps_per_epoch=None, optimizer="adam", learning_rate=3e-3)
    with pytest.warns(kzoo.models.pretrained.ClassifierReplaced, match="another task"):
        tuned = train(config)
    frozen = {"conv_1/kernel", "norm_1/gamma", "norm_1/beta", "norm_1/moving_mean",
              "norm_1/moving_variance"}
    a = {v.path: v.numpy() for v in pre.model.weights}
    b = {v.path: v.numpy() for v in tuned.model.weights}
    assert {p for p in a if np.array_equal(a[p], b[p])} == frozen
    saved = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert saved["init_from_sha256"] == resolve_init(config).init_from_sha256
    # 3 short epochs of a 6k-parameter CNN: measured 0.54 (5 classes, chance 0.2); the lab's
    # transfer lesson measures what fine-tuning is worth.
    assert tuned.metrics["test_accuracy"] > 0.4
    again = train(config)  # the same command: the finished run, not a refusal
    assert again.metrics["test_accuracy"] == tuned.metrics["test_accuracy"]


def test_a_source_inside_the_run_directory_is_refused(tmp_path, source):
    """Fine-tuning a run directory from itself with --overwrite deleted its own source: the same
    command could never be rerun (its source's sha256 had changed)."""
    run = tmp_path / "run"
    run.mkdir()
    inside = run / "model.keras"
    inside.write_bytes(source.read_bytes())
    for init_from in (str(inside), str(run / ".." / "run" / "model.keras")):
        with pytest.raises(UserError, match=r"--init-from: .* lies inside the run directory"):
            resolve_init(_config(tmp_path, init_from=init_from))
    assert resolve_init(_config(tmp_path, init_from=str(source))).init_from_sha256
