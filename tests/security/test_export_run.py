"""`kzoo export <run_dir>` on run directories whose files are wrong-shaped, oversized or special.

Each is refused by `export_run` and `kzoo export` in one line naming the file and the field, with
nothing published. (A genuine run, built below with kzoo.training's own writers, exports.)
"""

from __future__ import annotations

import json
import os

import pytest

from kzoo.export import export_run, list_versions

from .conftest import Case, run_api, run_cli_in_process


def _edit(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, allow_nan=True))


def _case(run_dir, match) -> Case:
    root = run_dir.parent / "root"

    def nothing_published():
        assert list_versions(root / "m") == []

    return Case(
        argv=["export", str(run_dir), "--name", "m", "--root", str(root)],
        api=lambda: export_run(run_dir, "m", root=root), match=match, error=ValueError,
        check=nothing_published,
    )


def class_names_is_5(run):
    _edit(run / "normalization.json", lambda n: n.update(class_names=5))
    return _case(run, r"normalization\.json': `class_names` must be list; received 5")


def class_names_are_numbers(run):
    _edit(run / "normalization.json", lambda n: n.update(class_names=[0, 1, 2]))
    return _case(run, r"`class_names` must be a list of strings")


def mean_missing(run):
    _edit(run / "normalization.json", lambda n: n.pop("mean"))
    return _case(run, r"normalization\.json': `mean` is missing")


def std_not_numbers(run):
    _edit(run / "normalization.json", lambda n: n.update(std=["wide"]))
    return _case(run, r"`std` must be numbers; received \['wide'\]")


def raw_dtype_missing(run):
    _edit(run / "normalization.json", lambda n: n.pop("raw_dtype"))
    return _case(run, r"`raw_dtype` is missing")


def raw_range_reversed(run):
    _edit(run / "normalization.json", lambda n: n.update(raw_range=[16, 0]))
    return _case(run, r"`raw_range` must be \[low, high\] numbers; received \[16, 0\]")


def accuracy_is_text(run):
    _edit(run / "metrics.json", lambda m: m.update(test_accuracy="high"))
    return _case(run, r"metrics\.json': `test_accuracy` must be int or float; received 'high'")


def a_metric_is_a_list(run):
    _edit(run / "metrics.json", lambda m: m.update(test_loss=[1.0, 2.0]))
    return _case(run, r"`test_loss` must be a number; received \[1\.0, 2\.0\]")


def a_metric_is_nan(run):
    _edit(run / "metrics.json", lambda m: m.update(test_loss=float("nan")))
    return _case(run, r"metrics\.json' holds the non-finite number NaN")


def config_without_config(run):
    _edit(run / "config.json", lambda c: c.pop("config"))
    return _case(run, r"config\.json': `config` is missing")


def config_is_a_list(run):
    (run / "config.json").write_text("[]")
    return _case(run, r"config\.json' must hold a JSON object")


def model_kwargs_is_text(run):
    _edit(run / "config.json", lambda c: c["config"].update(model_kwargs="depth=3"))
    return _case(run, r"`model_kwargs` must be dict; received 'depth=3'")


def config_of_100_mb(run):
    with open(run / "config.json", "r+b") as f:
        f.truncate(100_000_000)
    return _case(run, r"config\.json' is 100,000,000 bytes, more than")


def metrics_nested_100k_deep(run):
    (run / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    return _case(run, r"metrics\.json' is nested more than 64 levels deep")


def metrics_is_a_fifo(run):
    (run / "metrics.json").unlink()
    os.mkfifo(run / "metrics.json")
    return _case(run, r"metrics\.json' is not a regular file")


CASES = [
    class_names_is_5, class_names_are_numbers, mean_missing, std_not_numbers, raw_dtype_missing,
    raw_range_reversed, accuracy_is_text, a_metric_is_a_list, a_metric_is_nan, config_without_config, config_is_a_list,
    model_kwargs_is_text, config_of_100_mb, metrics_nested_100k_deep, metrics_is_a_fifo,
]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_the_python_api(make, run_copy):
    run_api(make(run_copy))


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_kzoo_export(make, run_copy, capsys):
    run_cli_in_process(make(run_copy), capsys)


@pytest.mark.slow
def test_the_genuine_run_exports(run_copy):
    """Control: the run every case tampers with exports, with its classes and metrics."""
    from kzoo.export import read_metadata

    meta = read_metadata(export_run(run_copy, "m", root=run_copy.parent / "root"))
    assert meta["classes"] == ["cat", "dog", "owl"]
    assert meta["metrics"]["test_accuracy"] == 0.5


@pytest.mark.parametrize("name", ["config.json", "normalization.json", "model.keras",
                                  "metrics.json"])
def test_a_run_file_that_is_a_link_is_refused_by_every_reader(name, run_copy, tmp_path):
    """export, publish, predict/evaluate (RunModel, evaluate) and weights= / finetune each followed
    a link in place of a run's file to wherever it pointed; each now refuses it by name, writing
    nothing and leaving the target alone."""
    import shutil

    from kzoo.evaluation import evaluate
    from kzoo.export.publish_weights import publish_weights
    from kzoo.export.run_model import RunModel
    from kzoo.models.pretrained import resolve_weights

    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(run_copy / name, outside / name)
    (run_copy / name).symlink_to(outside / name)
    before = (outside / name).read_bytes()
    match = rf"{name}' is a symbolic link"
    for attempt in (lambda: export_run(run_copy, "m", root=tmp_path / "root"),
                    lambda: publish_weights(run_copy, "t", out=tmp_path / "published"),
                    lambda: RunModel(run_copy),
                    lambda: evaluate(run_copy, out_dir=tmp_path / "eval"),
                    lambda: resolve_weights(str(run_copy))):
        with pytest.raises(ValueError, match=match):
            attempt()
    for written in ("root", "published", "eval"):
        assert not (tmp_path / written).exists()
    assert not (run_copy / "evaluation").exists()
    assert (outside / name).read_bytes() == before


def test_publish_into_a_file_is_one_line(run_copy, tmp_path, capsys):
    """`kzoo publish --out FILE` (or a path that cannot exist) ended in a FileExistsError traceback."""
    from kzoo.cli import main

    target = tmp_path / "a_file"
    target.write_text("mine")
    code = main(["publish", str(run_copy), "--tag", "t", "--out", str(target)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "kzoo publish: error: --out" in err and "cannot be a folder to publish into" in err
    assert target.read_text() == "mine"
