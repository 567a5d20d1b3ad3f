"""`kzoo bench --curves`: its settings, the memory-per-image slopes, the table, the figure, a run."""

import json
import subprocess
import sys

import pytest

from kzoo.bench import BenchConfig, tiny
from kzoo.bench.curves import curve_points, memory_per_image, memory_per_layer
from kzoo.bench.curves_figure import write_curves_figure
from kzoo.bench.report import format_markdown


def _entry(ips, peak, precision="mixed_bfloat16"):
    return {"precision": precision, "images_per_second": {"median": ips}, "peak_memory_mb": peak}


def _point(model, batch, kzoo, torch):
    return {"model": model, "batch": batch, "steps": 3, "kzoo": _entry(*kzoo),
            "torch": _entry(*torch, precision="bfloat16")}


POINTS = [
    _point("resnet20", 32, (900, 1000), (800, 600)),
    _point("resnet20", 64, (1000, 1100), (900, 700)),   # kzoo +100 MiB / 32 images, torch +100
    _point("resnet20", 128, (1100, 1400), (950, 850)),  # kzoo +300 / 64, torch +150 / 64
    _point("resnet56", 128, (400, 2000), (380, 1500)),
]


def test_memory_per_image_is_the_slope_between_neighbouring_batches():
    slopes = memory_per_image(POINTS)
    assert [(r["from_batch"], r["to_batch"]) for r in slopes] == [(32, 64), (64, 128)]
    assert slopes[0]["kzoo"] == pytest.approx(100 / 32) and slopes[0]["torch"] == pytest.approx(100 / 32)
    assert slopes[0]["kzoo_exceeds_torch"] is False
    assert slopes[1]["kzoo"] == pytest.approx(300 / 64) and slopes[1]["torch"] == pytest.approx(150 / 64)
    assert slopes[1]["kzoo_exceeds_torch"] is True
    without_torch = [{k: v for k, v in p.items() if k != "torch"} for p in POINTS]
    assert "kzoo_exceeds_torch" not in memory_per_image(without_torch)[0]


def test_memory_per_layer_is_the_slope_between_neighbouring_depths():
    (row,) = memory_per_layer(POINTS, 128)  # resnet20 -> resnet56 at batch 128
    assert (row["from_depth"], row["to_depth"]) == (20, 56)
    assert row["kzoo"] == pytest.approx(600 / 36) and row["torch"] == pytest.approx(650 / 36)
    assert row["kzoo_exceeds_torch"] is False
    assert memory_per_layer(POINTS, 32) == []  # one depth at batch 32: no slope


def test_a_failed_point_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    from kzoo.bench import curves as curves_module
    from kzoo.bench.worker_client import WorkerError

    def fake_point(config, model, batch, torch_available, out):
        if model == "resnet56":
            raise WorkerError("the kzoo worker exited (status -9) during 'setup'; see a.log")
        return _point(model, batch, (100.0 * batch, 500.0 + batch), (90.0 * batch, 300.0 + batch))

    monkeypatch.setattr(curves_module, "_point", fake_point)
    config = tiny(out_dir=str(tmp_path), curve_depths=("resnet20", "resnet56", "resnet110"))
    result = curves_module.run_curves(config.validate(), True, log=lambda _: None)
    assert [(p["model"], p["batch"]) for p in result["points"]] == [
        ("resnet20", 4), ("resnet20", 8), ("resnet110", 8)]
    assert result["failed"] == [{"model": "resnet56", "batch": 8, "error":
                                 "the kzoo worker exited (status -9) during 'setup'; see a.log"}]
    (layer,) = result["memory_per_layer"]  # resnet20 -> resnet110 across the gap
    assert (layer["from_depth"], layer["to_depth"]) == (20, 110)


def test_points_are_every_batch_then_every_other_depth():
    config = BenchConfig(curve_batches=(256, 32, 128), curve_depths=("resnet56", "resnet20"),
                         curve_depth_batch=128)
    config.validate()
    assert config.curve_batches == (32, 128, 256)  # sorted, so slopes run upwards
    assert curve_points(config) == [("resnet20", 32), ("resnet20", 128), ("resnet20", 256),
                                    ("resnet56", 128)]


@pytest.mark.parametrize("kwargs, match", [
    ({"curve_batches": ()}, "curve_batches must be distinct whole numbers >= 1"),
    ({"curve_batches": (32, 32)}, "curve_batches must be distinct whole numbers >= 1"),
    ({"curve_batches": (0, 32)}, "received curve_batches=.0, 32"),
    ({"curve_depths": ("resnet44",)}, "curve_depths must be distinct names from resnet20, "),
])
def test_bad_curve_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BenchConfig(**kwargs).validate()


def test_a_bad_curve_flag_is_one_line_naming_the_flag(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "kzoo.cli", "bench", "--curves", "--curve-depths", "resnet44",
         "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and not (tmp_path / "out").exists()
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("kzoo bench: error: --curve-depths must be distinct names from ")
    assert "resnet44" in line


def test_the_table_and_the_figure_show_every_point(tmp_path):
    curves = {"batch_curve_model": "resnet20", "depth_curve_batch": 128, "points": POINTS,
              "memory_per_image": memory_per_image(POINTS),
              "memory_per_layer": memory_per_layer(POINTS, 128)}
    curves["figure"] = write_curves_figure(tmp_path / "curves.png", curves)
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    results = {"created": "now", "config": tiny().validate().to_dict(), "notes": [],
               "machine": {"cpu": "cpu", "cores": 2, "cpu_flags": [], "versions": {}},
               "load_average": {"start": [0.1]}, "models": [], "curves": curves}
    markdown = format_markdown(results)
    assert "| resnet20 | 128 | 1100 | 950 | 1.16x | 1400 | 850 |" in markdown
    assert "| resnet56 | 128 | 400 | 380 | 1.05x | 2000 | 1500 |" in markdown
    assert "| 64-128 | 4.69 | 2.34 | yes |" in markdown
    assert "| 20-56 | 16.67 | 18.06 | no |" in markdown


@pytest.mark.slow
def test_a_tiny_curves_run_measures_every_point_in_its_own_processes(tmp_path):
    from kzoo.cli import main

    assert main(["bench", "--tiny", "--curves", "--no-serving", "--kernel-steps", "0",
                 "--frameworks", "kzoo", "torch", "--out", str(tmp_path)]) == 0
    curves = json.loads((tmp_path / "bench.json").read_text())["curves"]
    assert [(p["model"], p["batch"]) for p in curves["points"]] == [
        ("resnet20", 4), ("resnet20", 8), ("resnet56", 8)]
    frameworks = {"kzoo", "torch"} if "torch" in curves["points"][0] else {"kzoo"}
    for p in curves["points"]:
        for name in frameworks:
            assert p[name]["images_per_second"]["median"] > 0 and p[name]["peak_memory_mb"] > 100
    assert [p["curves"] for p in curves["points"]] == [["batch"], ["batch", "depth"], ["depth"]]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "curves").glob("*.log"))) == 3 * len(frameworks)
    assert "## How cost grows" in (tmp_path / "bench.md").read_text()
