"""The accuracy-versus-cost chart: which models it draws, how, and the PNG it writes."""

import os

import pytest

import kzoo.model_table
from kzoo.charts.cost_accuracy import (
    bubble_area,
    chart_points,
    cost_accuracy_figure,
    write_cost_accuracy_chart,
)

ROWS = [
    dict(name="big", family="vgg", macs=15_000_000_000, trainable_params=138_000_000,
         published={"imagenet_top1_error": 26.6}),
    dict(name="small", family="mobilenet", macs=300_000_000, trainable_params=3_500_000,
         published={"imagenet_top1_error": 28.1}),
    dict(name="cifar", family="resnet", macs=40_000_000, trainable_params=270_000,
         published={"cifar10_error": 8.75, "cifar100_error": 31.0}),
    dict(name="unpublished", family="resnet", macs=1, trainable_params=1, published={}),
]


def test_points_are_the_published_models_per_benchmark():
    points = chart_points(ROWS)
    assert [p["name"] for p in points["imagenet_top1_error"]] == ["big", "small"]
    assert points["cifar10_error"] == [
        dict(name="cifar", family="resnet", macs=40_000_000, params=270_000, error=8.75)
    ]


def test_bubble_area_is_proportional_to_parameters_above_a_floor():
    assert bubble_area(100e6) == pytest.approx(10 * bubble_area(10e6))
    assert bubble_area(1) == bubble_area(10) > 0  # the floor keeps tiny models visible


def test_figure_has_a_log_x_panel_per_benchmark_with_labels():
    fig = cost_accuracy_figure(ROWS)
    imagenet, cifar = fig.axes[:2]
    assert imagenet.get_xscale() == cifar.get_xscale() == "log"
    assert "ImageNet" in imagenet.get_title() and "CIFAR-10" in cifar.get_title()
    assert "multiply-adds" in imagenet.get_xlabel() and "error" in imagenet.get_ylabel()
    assert sorted(t.get_text() for t in imagenet.texts) == ["big", "small"]
    assert [t.get_text() for t in cifar.texts] == ["cifar"]
    # Bubble areas follow the parameters: the 138M-parameter model's marker is the largest.
    sizes = sorted(c.get_sizes()[0] for c in imagenet.collections if len(c.get_offsets()))
    assert sizes == pytest.approx([bubble_area(3_500_000), bubble_area(138_000_000)])
    assert "parameters" in fig._suptitle.get_text()


def test_no_published_model_is_an_error():
    with pytest.raises(ValueError, match="published"):
        cost_accuracy_figure(ROWS[-1:])


def test_writes_a_png_of_the_registered_models(tmp_path, monkeypatch):
    asked = []

    def fake_rows(pattern, progress):  # building every registered model takes minutes
        asked.append((pattern, progress))
        return ROWS

    monkeypatch.setattr(kzoo.model_table, "model_rows", fake_rows)
    path = tmp_path / "chart.png"
    assert write_cost_accuracy_chart(path, pattern="res*", progress=False) == str(path)
    assert asked == [("res*", False)]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["chart.png"]  # written atomically, no temporary left
