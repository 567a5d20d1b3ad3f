"""Diagnostics: per-layer activation statistics, dead ReLUs and gradient norms, as JSON and TensorBoard."""

import json

import keras
import numpy as np
import pytest

import kzoo
import kzoo.data
from kzoo.training import TrainConfig, layer_diagnostics, train
from kzoo.training.engine import _probe_batch


def _digits_probe(n=256):
    bundle = kzoo.data.load("digits", batch_size=n)
    x, y = next(iter(bundle.train_epochs(0, 1)))
    return x.numpy(), np.eye(10, dtype="float32")[y.numpy()]


def test_statistics_match_numpy_and_dead_relus_are_counted():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 64)]
    dead = keras.layers.Dense(
        6, activation="relu", bias_initializer=keras.initializers.Constant(-50.0), name="dead"
    )
    half = keras.layers.Dense(4, activation="relu", name="half")
    inputs = keras.Input((5,))
    h = half(dead(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(h))
    half.set_weights([np.ones((6, 4), "float32"), np.array([1.0, 1.0, -1.0, -1.0], "float32")])
    rows = {r["name"]: r for r in layer_diagnostics(model, x, y)}
    assert rows["dead"]["dead_fraction"] == 1.0
    assert rows["half"]["dead_fraction"] == 0.5  # inputs are all 0: units with bias -1 never fire
    out = keras.Model(inputs, model.get_layer("out").output)(x).numpy()
    assert rows["out"]["activation_mean"] == pytest.approx(out.mean(), rel=1e-5)
    assert rows["out"]["activation_std"] == pytest.approx(out.std(), rel=1e-5)
    # No gradient reaches the weights behind dead ReLUs.
    assert rows["dead"]["grad_norm"] == 0.0 and rows["out"]["grad_norm"] > 0


def test_deep_sigmoid_mlp_shows_vanishing_gradients():
    model = kzoo.create_model(
        "plain_mlp", depth=20, width=64, activation="sigmoid", input_shape=(8, 8, 1), classes=10
    )
    rows = layer_diagnostics(model, *_digits_probe())
    norms = {r["name"]: r["grad_norm"] for r in rows}
    first, last = norms["dense_1"], norms["dense_20"]
    assert first < 1e-3 * last, (first, last)
    # ... and the norms shrink layer by layer towards the input.
    depth_norms = [norms[f"dense_{i}"] for i in range(1, 21)]
    assert np.mean(np.diff(np.log(depth_norms)) > 0) > 0.8


def test_composite_blocks_are_reported_as_layers():
    model = kzoo.create_model("resnet20", input_shape=(8, 8, 1), classes=10)
    rows = layer_diagnostics(model, *_digits_probe(32))
    names = [r["name"] for r in rows]
    assert names == [layer.name for layer in model.layers[1:]]
    blocks = [r for r in rows if r["class"] == "BasicBlock"]
    assert len(blocks) == 9 and all(r["grad_norm"] > 0 for r in blocks)


def test_callback_writes_json_and_tensorboard_every_epoch(tmp_path):
    config = TrainConfig(
        model="plain_mlp",
        model_kwargs={"depth": 3, "width": 32},
        dataset="digits",
        run_dir=str(tmp_path / "run"),
        epochs=2,
        batch_size=64,
        max_steps_per_epoch=3,
        diagnostics=True,
        diagnostics_samples=50,
        verbose=0,
    )
    model = train(config).model
    entries = json.loads((tmp_path / "run" / "diagnostics.json").read_text())
    assert [e["epoch"] for e in entries] == [0, 1, 2]
    for entry in entries:
        assert [r["name"] for r in entry["layers"]] == [layer.name for layer in model.layers[1:]]
    # The last entry is the diagnostics of the trained model on the run's fixed probe batch.
    bundle = kzoo.data.load("digits", batch_size=64, seed=config.seed,
                            validation_split=config.validation_split)
    expected = layer_diagnostics(model, *_probe_batch(bundle, 50))
    for got, want in zip(entries[-1]["layers"], expected, strict=True):
        assert got.keys() == want.keys() and got["name"] == want["name"]
        for key in ("activation_mean", "activation_std", "dead_fraction", "grad_norm"):
            if want[key] is None:  # e.g. no dead fraction for a non-ReLU layer
                assert got[key] is None, (got["name"], key)
            else:
                assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-7), (got["name"], key)
    weighted = [r for r in entries[-1]["layers"] if r["class"] == "Dense"]
    assert len(weighted) == 4 and all(r["grad_norm"] > 0 for r in weighted)
    before = [r for r in entries[0]["layers"] if r["class"] == "Dense"]
    assert before[0]["grad_norm"] != weighted[0]["grad_norm"]  # recorded after training moved on
    assert list((tmp_path / "run" / "logs" / "diagnostics").glob("events.out.tfevents.*"))
