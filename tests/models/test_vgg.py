"""VGG: counts from the architecture table, the published ones, builds, and safe round trips."""

import pytest

import kzoo
from kzoo.models.vgg import vgg, vgg_cifar
from tests.models import arch_counts as ac
from tests.models.case_study_checks import assert_counts, assert_safe_round_trip, trainable

SMALL = (4, 8, 8, 16, 16)


@pytest.mark.parametrize(
    "depth, bn, expected",
    # torchvision's vgg11 ... vgg19_bn with 1,000 classes.
    [
        (11, False, 132_863_336),
        (13, True, 133_053_736),
        (16, False, 138_357_544),
        (16, True, 138_365_992),
        (19, False, 143_667_240),
        (19, True, 143_678_248),
    ],
)
def test_table_counts_are_torchvisions(depth, bn, expected):
    assert ac.vgg(depth, bn=bn, side=224, classes=1000).params == expected


def test_table_counts_of_the_cifar_vgg_are_li_et_als():
    # Li et al. 2017 Table 2: VGG-16 on CIFAR-10, 1.5e7 parameters and 3.13e8 FLOPs (mult-adds).
    t = ac.vgg(16, bn=True, side=32, classes=10, cifar=True)
    assert (t.params, t.macs) == (14_991_946, 313_463_808)
    assert t.params == pytest.approx(1.5e7, rel=0.01)
    assert t.macs == pytest.approx(3.13e8, rel=0.01)


@pytest.mark.parametrize("bn", [False, True])
def test_small_imagenet_vgg_matches_the_table(bn, tmp_path):
    model = vgg(11, batch_norm=bn, widths=SMALL, fc_units=32, classes=5, input_shape=(32, 32, 3))
    assert_counts(model, ac.vgg(11, bn=bn, side=32, classes=5, widths=SMALL, fc=32))
    assert model.name == ("vgg11_bn" if bn else "vgg11")
    if bn:
        assert_safe_round_trip(model, tmp_path)


def test_small_cifar_vgg_matches_the_table(tmp_path):
    model = vgg_cifar(13, widths=SMALL, fc_units=16, classes=10, input_shape=(32, 32, 1))
    assert_counts(model, ac.vgg(13, bn=True, side=32, classes=10, cifar=True, widths=SMALL, fc=16,
                                channels=1))
    assert_safe_round_trip(model, tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=17), "depth"),
        (dict(batch_norm="yes"), "batch_norm"),
        (dict(widths=(64, 128)), "widths"),
        (dict(fc_units=0), "fc_units"),
        (dict(input_shape=(16, 16, 3)), "at least 32"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        vgg(**{"classes": 10, **kwargs})


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, depth, bn, expected",
    [
        ("vgg16", 16, False, 138_357_544),
        ("vgg16_bn", 16, True, 138_365_992),
        ("vgg19_bn", 19, True, 143_678_248),
    ],
)
def test_registered_imagenet_vggs(name, depth, bn, expected):
    model = kzoo.create_model(name)
    t = ac.vgg(depth, bn=bn, side=224, classes=1000)
    assert trainable(model) == expected
    assert_counts(model, t)


@pytest.mark.slow
def test_registered_cifar_vgg():
    model = kzoo.create_model("vgg16_cifar")
    assert_counts(model, ac.vgg(16, bn=True, side=32, classes=10, cifar=True))
