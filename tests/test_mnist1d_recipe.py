"""recipes/mnist1d.py: the paper's models and set-up, a smoke run, and the reproduced table (slow)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import kzoo

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "mnist1d.py"
# Greydanus 2020, README table: MNIST-1D test accuracy (%).
PAPER = {"logistic": 32.0, "mlp": 68.0, "cnn": 94.0, "gru": 91.0}


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("mnist1d_recipe", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.register_paper_models()
    return module


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_the_papers_models_and_set_up(recipe):
    counts = {}
    for key in PAPER:
        _, name, kwargs, paper = recipe.ROWS[key]
        assert paper == PAPER[key]
        model = kzoo.create_model(name, classes=10, input_shape=(40, 1), **kwargs)
        counts[key] = trainable(model)
    # The counts Greydanus' models.py prints: Linear(40, 10); Linear(40, 100) + residual
    # Linear(100, 100) + Linear(100, 10); Conv1d(1, 25, 5) + 2 x Conv1d(25, 25, 3) + Linear(125, 10);
    # bidirectional GRU(1, 6) (two biases per gate) + Linear(2 * 6 * 40, 10).
    assert counts == {
        "logistic": 40 * 10 + 10,
        "mlp": (40 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10),
        "cnn": (5 * 25 + 25) + 2 * (3 * 25 * 25 + 25) + (125 * 10 + 10),
        "gru": 2 * 3 * (6 + 36 + 12) + (480 * 10 + 10),
    } == {"logistic": 410, "mlp": 15_210, "cnn": 5_210, "gru": 5_134}
    cnn = kzoo.create_model("mnist1d_cnn", classes=10)
    assert [cnn.get_layer(f"conv_{i}").output.shape[1] for i in (1, 2, 3)] == [19, 10, 5]
    paper = recipe.PAPER
    assert (paper["epochs"] * 4000 // paper["batch_size"], paper["learning_rate"]) == (6000, 1e-2)
    assert (paper["optimizer"], paper["normalize"], paper["validation_split"]) == ("adam", "none", 0)
    recipe.register_paper_models()  # registering again is a no-op


@pytest.mark.slow
def test_smoke_run_writes_paper_and_measured_columns(recipe, tmp_path):
    rows = recipe.main(["--smoke", "--run-dir", str(tmp_path), "--models", "logistic", "gru"])
    assert [r["key"] for r in rows] == ["logistic", "gru"]
    assert [r["params"] for r in rows] == [410, 5_134]
    assert all(0.0 <= r["ours"] <= 100.0 for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert "| logistic regression | 410" in table and "32%" in table and "91%" in table
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["smoke"] is True and saved["settings"]["max_steps_per_epoch"] == 3
    assert (tmp_path / "gru" / "metrics.json").is_file()


@pytest.mark.slow
def test_reproduces_the_papers_table(recipe, tmp_path):
    """The paper's four rows, its set-up, seed 0: within 5 points of the published accuracy.

    Measured here (2 cores): 32.2 / 65.0 / 92.4 / 90.3 against 32 / 68 / 94 / 91. The paper's own
    quickstart run of the same code ends its CNN at 92.5 and its GRU at 91.1, so a point or two
    either side is run-to-run variation, not a different model.
    """
    rows = recipe.main(["--run-dir", str(tmp_path), "--models", *PAPER])
    ours = {r["key"]: r["ours"] for r in rows}
    for key, paper in PAPER.items():
        assert abs(ours[key] - paper) <= 5.0, (key, ours[key], paper)
    assert ours["logistic"] < ours["mlp"] < ours["gru"] and ours["mlp"] < ours["cnn"]
