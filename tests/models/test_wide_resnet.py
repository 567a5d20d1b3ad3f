import time

import keras
import numpy as np
import pytest

import kzoo
from kzoo.models.wide_resnet import wide_resnet
from kzoo.registry import get_entry
from tests.helpers import count_trainable as trainable


def wrn_count(depth, k, classes=10):
    """Zagoruyko & Komodakis 2016, Table 1: conv 16, three groups of pre-activation B(3,3) blocks
    (BN-ReLU-conv3x3-BN-ReLU-conv3x3) at 16k/32k/64k, 1x1 projection where the width changes,
    final BN-ReLU, FC. Convolutions have no bias; BN has gamma and beta."""
    n = (depth - 4) // 6
    total = 9 * 3 * 16
    cin = 16
    for f in (16 * k, 32 * k, 64 * k):
        for _ in range(n):
            total += 2 * cin + 9 * cin * f + 2 * f + 9 * f * f
            if cin != f:
                total += cin * f
            cin = f
    return total + 2 * cin + cin * classes + classes


def test_count_formula_reproduces_the_published_counts():
    assert wrn_count(16, 8) == 10_961_370
    assert wrn_count(28, 10) == 36_479_194


def test_wrn_16_8_golden_count():
    assert trainable(kzoo.create_model("wrn_16_8", classes=10)) == 10_961_370


@pytest.mark.slow
def test_wrn_28_10_golden_count():
    start = time.perf_counter()
    model = kzoo.create_model("wrn_28_10", classes=10, dropout=0.3)
    print(f"wrn_28_10 built in {time.perf_counter() - start:.1f} s")
    assert trainable(model) == 36_479_194


@pytest.mark.parametrize("name, depth, k", [("wrn_16_4", 16, 4), ("wrn_40_4", 40, 4)])
def test_variant_counts(name, depth, k):
    assert trainable(kzoo.create_model(name, classes=10)) == wrn_count(depth, k)


def test_counts_with_100_classes_and_width_1():
    assert trainable(wide_resnet(10, 1, classes=100)) == wrn_count(10, 1, classes=100)


def test_registered_metadata():
    assert set(kzoo.list_models("wrn*")) >= {"wrn_16_4", "wrn_16_8", "wrn_28_10", "wrn_40_4"}
    assert get_entry("wrn_28_10").published == {"cifar10_error": 4.00, "cifar100_error": 19.25}
    assert get_entry("wrn_16_8").published["cifar10_error"] == 4.27
    assert "Wide Residual Networks" in get_entry("wrn_40_4").paper
    assert get_entry("wrn_16_4").family == "wide_resnet"


def test_structure_dropout_and_names():
    model = wide_resnet(16, 2, dropout=0.3, classes=10)
    assert model.name == "wrn_16_2"
    blocks = [model.get_layer(f"stage{s}_block{b}") for s in (1, 2, 3) for b in (1, 2)]
    assert all(b.preact and b.shortcut == "B" and b.dropout == 0.3 for b in blocks)
    assert [b.filters for b in blocks] == [32, 32, 64, 64, 128, 128]
    assert model.get_layer("stage3_block2").output.shape == (None, 8, 8, 128)
    assert model.get_layer("final_bn").output.shape == (None, 8, 8, 128)
    # Only the width-changing first blocks project; with k=2 even the first stage widens 16 -> 32.
    assert [b.shortcut_conv is not None for b in blocks] == [True, False] * 3


def test_dropout_is_inactive_at_inference(rng):
    x = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    model = wide_resnet(10, 1, dropout=0.5, classes=3, input_shape=(16, 16, 3))
    plain = wide_resnet(10, 1, dropout=0.0, classes=3, input_shape=(16, 16, 3))
    plain.set_weights(model.get_weights())
    # At inference the dropout net is the net without dropout; in training it is not.
    expected = keras.ops.convert_to_numpy(plain(x, training=False))
    np.testing.assert_allclose(model(x, training=False), expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(model(x, training=True), plain(x, training=True), atol=1e-4)


def test_headless_features():
    model = wide_resnet(10, 2, include_top=False, pooling="max", input_shape=(24, 24, 3))
    assert model.output_shape == (None, 128)


def test_kernel_regularizer_reaches_every_convolution():
    model = wide_resnet(10, 2, classes=10, kernel_regularizer=keras.regularizers.L2(5e-4))
    # stem + 3 blocks x 2 convolutions + 3 projections (every stage widens) = 10
    assert len(model.losses) == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=15, widen_factor=4), r"6n\+4.*received depth=15.*near it: .*16"),
        (dict(depth=28.0, widen_factor=4), "depth"),
        (dict(depth=4, widen_factor=4), "depth"),
        (dict(depth=16, widen_factor=0), "widen_factor"),
        (dict(depth=16, widen_factor=2.5), "widen_factor"),
        (dict(depth=16, widen_factor=4, dropout=1.0), "dropout"),
        (dict(depth=16, widen_factor=4, dropout=-0.1), "dropout"),
        (dict(depth=16, widen_factor=4, input_shape=(3, 32, 3)), "too small"),
        (dict(depth=16, widen_factor=4, classes=None), "classes"),
    ],
)
def test_invalid_arguments(kwargs, match):
    kwargs = {"classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        wide_resnet(**kwargs)
