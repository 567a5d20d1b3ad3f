"""MobileNets v1 and v2: counts and multiply-adds from the tables against the papers, builds and
safe round trips."""

import pytest

import kzoo
from kzoo.layers import DepthwiseSeparableBlock, InvertedResidual
from kzoo.models.mobilenet import mobilenet_v1, mobilenet_v2
from tests.models import arch_counts as ac
from tests.models.case_study_checks import assert_counts, assert_safe_round_trip, trainable


@pytest.mark.parametrize(
    "alpha, side, million_params, million_macs",
    # Howard et al. Table 6 (width multiplier) and Table 7 (resolution multiplier).
    [
        (1.0, 224, 4.2, 569),
        (0.75, 224, 2.6, 325),
        (0.5, 224, 1.3, 149),
        (0.25, 224, 0.5, 41),
        (1.0, 192, 4.2, 418),
        (1.0, 160, 4.2, 290),
        (1.0, 128, 4.2, 186),
    ],
)
def test_v1_table_counts_are_the_papers(alpha, side, million_params, million_macs):
    t = ac.mobilenet_v1(alpha, side=side, classes=1000)
    assert abs(t.params / 1e6 - million_params) <= 0.05  # the paper rounds to 0.1M
    assert t.macs == pytest.approx(million_macs * 1e6, rel=0.01)


def test_v2_table_counts_are_torchvisions_and_the_papers():
    t = ac.mobilenet_v2(1.0, side=224, classes=1000)
    assert (t.params, t.macs) == (3_504_872, 300_774_272)  # torchvision's count
    assert t.macs == pytest.approx(300e6, rel=0.01)  # Sandler et al. Table 4: 300M mult-adds


def test_small_v1_matches_the_table(tmp_path):
    model = mobilenet_v1(alpha=0.25, classes=10, input_shape=(32, 32, 3))
    assert_counts(model, ac.mobilenet_v1(0.25, side=32, classes=10))
    assert sum(isinstance(layer, DepthwiseSeparableBlock) for layer in model.layers) == 13
    assert_safe_round_trip(model, tmp_path)


def test_small_v2_for_cifar_matches_the_table():
    model = mobilenet_v2(alpha=0.25, small_inputs=True, classes=10)
    assert model.input.shape == (None, 32, 32, 3)
    assert_counts(model, ac.mobilenet_v2(0.25, side=32, classes=10, small=True))
    assert sum(isinstance(layer, InvertedResidual) for layer in model.layers) == 17
    assert model.get_layer("head_act").output.shape == (None, 4, 4, 1280)  # stride 8, not 32


@pytest.mark.slow  # 17 blocks built twice: ~5 s (InvertedResidual's own round trip is fast)
def test_small_v2_round_trip(tmp_path):
    assert_safe_round_trip(mobilenet_v2(alpha=0.25, classes=10, input_shape=(32, 32, 3)), tmp_path)


def test_resolution_multiplier_sets_the_default_input():
    model = mobilenet_v1(alpha=0.25, resolution_multiplier=128 / 224, include_top=False)
    assert model.input.shape == (None, 128, 128, 3)
    assert model.output.shape == (None, 4, 4, 256)
    # An explicit input shape takes precedence.
    model = mobilenet_v1(alpha=0.25, resolution_multiplier=0.5, input_shape=(64, 64, 3),
                         include_top=False, pooling="avg")
    assert model.output.shape == (None, 256)


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (mobilenet_v1, dict(alpha=0), "alpha"),
        (mobilenet_v1, dict(resolution_multiplier=-1), "resolution_multiplier"),
        (mobilenet_v1, dict(small_inputs=1), "small_inputs"),
        (mobilenet_v1, dict(activation="nope"), "activation"),
        (mobilenet_v1, dict(input_shape=(16, 16, 3)), "at least 32"),
        (mobilenet_v2, dict(dropout=-0.1), "dropout"),
        (mobilenet_v2, dict(small_inputs=True, input_shape=(4, 4, 3)), "at least 8"),
    ],
)
def test_rejects_bad_arguments(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**{"classes": 10, **kwargs})


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, alpha, side",
    [
        ("mobilenet_v1", 1.0, 224),
        ("mobilenet_v1_075", 0.75, 224),
        ("mobilenet_v1_050", 0.5, 224),
        ("mobilenet_v1_025", 0.25, 224),
        ("mobilenet_v1_160", 1.0, 160),
        ("mobilenet_v1_128", 1.0, 128),
    ],
)
def test_registered_v1(name, alpha, side):
    model = kzoo.create_model(name)
    assert model.input.shape == (None, side, side, 3)
    assert_counts(model, ac.mobilenet_v1(alpha, side=side, classes=1000))


@pytest.mark.slow
def test_registered_v2_and_cifar_forms():
    model = kzoo.create_model("mobilenet_v2")
    assert trainable(model) == 3_504_872
    assert_counts(model, ac.mobilenet_v2(1.0, side=224, classes=1000))
    assert_counts(kzoo.create_model("mobilenet_v2_cifar"),
                  ac.mobilenet_v2(1.0, side=32, classes=10, small=True))
    assert_counts(kzoo.create_model("mobilenet_v1_cifar"),
                  ac.mobilenet_v1(1.0, side=32, classes=10, small=True))
