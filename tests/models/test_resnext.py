"""ResNeXt: counts from the architecture table, the published ones, builds, and safe round trips."""

import pytest

import kzoo
from kzoo.layers import ResNeXtBlock
from kzoo.models.resnext import resnext_cifar, resnext_imagenet
from tests.models import arch_counts as ac
from tests.models.case_study_checks import assert_counts, assert_safe_round_trip, trainable


def test_table_counts_are_the_published_ones():
    # torchvision's resnext50_32x4d and resnext101_32x8d, exactly.
    assert ac.resnext((3, 4, 6, 3), 32, 4, side=224, classes=1000, imagenet=True).params == 25_028_904
    assert ac.resnext((3, 4, 23, 3), 32, 8, side=224, classes=1000, imagenet=True).params == (
        88_791_336
    )
    # Xie et al. Table 7: ResNeXt-29 8x64d 34.4M, 16x64d 68.1M (rounded) with 10 classes.
    r8 = ac.resnext((3, 3, 3), 8, 64, side=32, classes=10, imagenet=False)
    r16 = ac.resnext((3, 3, 3), 16, 64, side=32, classes=10, imagenet=False)
    assert r8.params == 34_426_698 and r8.params == pytest.approx(34.4e6, rel=1e-3)
    assert r16.params == 68_155_210 and r16.params == pytest.approx(68.1e6, rel=1e-3)


def test_table_macs_of_resnext50_are_the_papers():
    # Xie et al. Table 1: ResNeXt-50 (32x4d) 4.2e9 FLOPs (multiply-adds).
    t = ac.resnext((3, 4, 6, 3), 32, 4, side=224, classes=1000, imagenet=True)
    assert t.macs == 4_230_479_872
    assert t.macs == pytest.approx(4.2e9, rel=0.01)


def test_small_cifar_resnext_matches_the_table(tmp_path):
    model = resnext_cifar(11, cardinality=4, group_width=2, base_channels=8, classes=10,
                          input_shape=(12, 12, 3))
    assert_counts(model, ac.resnext((1, 1, 1), 4, 2, side=12, classes=10, imagenet=False, base=8))
    # The bottleneck (C*d = 8) is narrower than the output (32), as in the ImageNet ResNeXts.
    first = model.get_layer("stage1_block1")
    assert type(first) is ResNeXtBlock and first.groups == 4 and first.out_channels == 32
    assert model.output.shape == (None, 10)
    assert_safe_round_trip(model, tmp_path)


def test_wide_bottleneck_uses_resnext_block():
    # ResNeXt-29's shape: C*d = 4*8 = 32 channels inside, 4*base = 16 out (its own round trip is
    # in tests/layers/test_resnext_block.py).
    model = resnext_cifar(11, cardinality=4, group_width=8, base_channels=4, classes=3,
                          input_shape=(8, 8, 3))
    block = model.get_layer("stage2_block1")
    assert type(block) is ResNeXtBlock and block.filters == 64 and block.out_channels == 32
    assert_counts(model, ac.resnext((1, 1, 1), 4, 8, side=8, classes=3, imagenet=False, base=4))


@pytest.mark.slow
def test_small_imagenet_resnext_matches_the_table():
    model = resnext_imagenet(50, cardinality=2, group_width=2, classes=7, input_shape=(32, 32, 3))
    assert_counts(model, ac.resnext((3, 4, 6, 3), 2, 2, side=32, classes=7, imagenet=True))
    assert model.name == "resnext50_2x2d"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=30), "depth"),
        (dict(cardinality=0), "cardinality"),
        (dict(group_width=2.5), "group_width"),
        (dict(base_channels=-1), "base_channels"),
        (dict(dropout=1.0), "dropout"),
    ],
)
def test_cifar_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnext_cifar(**{"classes": 10, **kwargs})


def test_imagenet_rejects_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        resnext_imagenet(34, classes=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, tally, expected",
    [
        ("resnext29_8x64d", dict(blocks=(3, 3, 3), c=8, d=64, imagenet=False), 34_426_698),
        ("resnext29_16x64d", dict(blocks=(3, 3, 3), c=16, d=64, imagenet=False), 68_155_210),
        ("resnext50_32x4d", dict(blocks=(3, 4, 6, 3), c=32, d=4, imagenet=True), 25_028_904),
        ("resnext101_32x8d", dict(blocks=(3, 4, 23, 3), c=32, d=8, imagenet=True), 88_791_336),
    ],
)
def test_registered_resnexts(name, tally, expected):
    model = kzoo.create_model(name)
    side, classes = (224, 1000) if tally["imagenet"] else (32, 10)
    t = ac.resnext(tally["blocks"], tally["c"], tally["d"], side=side, classes=classes,
                   imagenet=tally["imagenet"])
    assert trainable(model) == expected == t.params
    assert_counts(model, t)
