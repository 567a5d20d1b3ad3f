"""`kzoo evaluate` (a run and its SavedModel give the same numbers; they match an independent count)
and `kzoo runs`."""

import json

import numpy as np

import kzoo
from kzoo.cli import main
from kzoo.evaluation import evaluate, summarize
from kzoo.export import export_run
from kzoo.training.runs import find_runs


def test_summary_numbers_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    report = summarize(probabilities, labels, ["a", "b"])
    assert report["accuracy"] == 0.75 and report["confusion"] == [[1, 0], [1, 2]]
    assert report["loss"] == np.mean(-np.log([0.9, 0.8, 0.4, 0.7]))
    a, b = report["per_class"]
    assert (a["precision"], a["recall"], a["support"]) == (0.5, 1.0, 1)
    assert (b["precision"], b["recall"], b["support"]) == (1.0, 2 / 3, 3)
    assert b["f1"] == 2 * (1.0 * 2 / 3) / (1.0 + 2 / 3)


def test_a_run_and_its_saved_model_evaluate_alike(finished_run, trained_weights, tmp_path, capsys):
    config, run_dir, model = finished_run
    model.set_weights(trained_weights)  # predictions that vary
    kzoo.export.save_keras(model, run_dir / "model.keras", overwrite=True)
    report = evaluate(run_dir)
    bundle = kzoo.data.load("digits", batch_size=512, validation_split=config.validation_split,
                            seed=config.seed)
    x, y = next(iter(bundle.test))
    expected = np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y.numpy())
    assert report["examples"] == len(y) == 360
    assert abs(report["accuracy"] - expected) < 1e-9
    assert np.sum(report["confusion"]) == 360
    assert [row["support"] for row in report["per_class"]] == np.bincount(y.numpy()).tolist()
    assert json.loads((run_dir / "evaluation" / "evaluation.json").read_text())["accuracy"] == report["accuracy"]
    assert (run_dir / "evaluation" / "confusion.png").stat().st_size > 1000

    version = export_run(run_dir, "digits", root=tmp_path / "saved")
    out = tmp_path / "eval_saved"
    assert main(["evaluate", str(version), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    served = json.loads((out / "evaluation.json").read_text())
    # The SavedModel normalises raw pixels itself, with the run's statistics: the same accuracy.
    assert abs(served["accuracy"] - report["accuracy"]) < 1e-9 and served["dataset"] == "digits"
    assert f"accuracy {report['accuracy']:.4f}" in printed


def test_a_run_is_evaluated_on_its_own_dataset_only(finished_run, capsys):
    _, run_dir, _ = finished_run
    assert main(["evaluate", str(run_dir), "--dataset", "wine"]) == 2
    assert "a run is evaluated on its own dataset ('digits')" in capsys.readouterr().err
    assert not (run_dir / "evaluation").exists()


def test_kzoo_runs_lists_finished_and_unfinished_runs(finished_run, tmp_path, capsys):
    _, run_dir, _ = finished_run
    unfinished = tmp_path / "runs" / "smoke-plain_mlp-digits"
    unfinished.mkdir(parents=True)
    (unfinished / "config.json").write_text(json.dumps(
        {"fingerprint": "x", "config": {"model": "plain_mlp", "dataset": "digits", "epochs": 4,
                                        "max_steps_per_epoch": 2}}))
    (tmp_path / "runs" / "notes").mkdir()  # not a run directory
    rows = {r["model"]: r for r in find_runs(tmp_path)}
    assert rows["plain_cnn"]["status"] == "finished" and rows["plain_cnn"]["test_accuracy"] == 0.5
    assert rows["plain_cnn"]["epochs"] == "None/1"  # the fixture's metrics have no epochs_run
    assert (rows["plain_mlp"]["status"], rows["plain_mlp"]["epochs"]) == ("in progress (smoke)", "0/4")
    assert [r["model"] for r in find_runs(tmp_path, "*smoke*")] == ["plain_mlp"]
    assert main(["runs", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| plain_cnn" in out and "in progress (smoke)" in out
    assert main(["runs", "--root", str(tmp_path / "missing")]) == 2


def test_evaluate_into_a_file_is_one_line_before_any_work(finished_run, tmp_path, capsys):
    """`kzoo evaluate RUN --out FILE` ran the whole evaluation, then ended in a FileExistsError
    traceback."""
    target = tmp_path / "a_file"
    target.write_text("mine")
    _, run_dir, _ = finished_run
    assert main(["evaluate", str(run_dir), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"kzoo evaluate: error: --out {str(target)!r} is not a folder; name a folder " \
        "for evaluation.json and confusion.png"
    assert target.read_text() == "mine"
