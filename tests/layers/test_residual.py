import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.layers import BasicBlock, BottleneckBlock
from tests.helpers import check_kernel_regularizer, run_layer_test
from tests.numpy_reference import (
    batch_norm,
    conv,
    randomize_batch_norm,
    randomize_kernel,
    relu,
    squeeze_excite,
)


# ---------------------------------------------------------------- NumPy reference (the papers' blocks)
def shortcut_a(x, stride, out_channels):
    s = x[:, ::stride, ::stride, :]
    zeros = np.zeros(s.shape[:-1] + (out_channels - s.shape[-1],))
    return np.concatenate([s, zeros], axis=-1)


def reference_block(x, p, *, bottleneck, stride, preact, shortcut, out_channels, groups=1):
    """The block as the papers define it, from a dict of NumPy weights `p`."""
    strides = (1, stride, 1) if bottleneck else (stride, 1)
    conv_groups = (1, groups, 1) if bottleneck else (groups, groups)
    if preact:
        pre = relu(batch_norm(x, *p["bn"][0]))
        h = pre
        for i, w in enumerate(p["conv"]):
            if i > 0:
                h = relu(batch_norm(h, *p["bn"][i]))
            h = conv(h, w, strides[i], "symmetric", conv_groups[i])
    else:
        h = x
        for i, w in enumerate(p["conv"]):
            h = batch_norm(conv(h, w, strides[i], "symmetric", conv_groups[i]), *p["bn"][i])
            if i < len(p["conv"]) - 1:
                h = relu(h)
    if "se" in p:
        h = squeeze_excite(h, *p["se"])
    projection = shortcut == "B" and (stride != 1 or x.shape[-1] != out_channels)
    if projection:
        s = conv(pre if preact else x, p["shortcut_conv"], stride, "symmetric")
        if not preact:
            s = batch_norm(s, *p["shortcut_bn"])
    else:
        s = shortcut_a(x, stride, out_channels)
    return h + s if preact else relu(h + s)


def randomize(layer, rng):
    """Random kernels and non-trivial BatchNorm statistics; returns them as NumPy, by role."""
    p = {
        "conv": [randomize_kernel(c, rng, 0.2) for c in layer.convs],
        "bn": [randomize_batch_norm(b, rng) for b in layer.bns],
    }
    if layer.se is not None:
        p["se"] = [rng.normal(0, 0.5, w.shape) for w in layer.se.get_weights()]
        layer.se.set_weights([w.astype("float32") for w in p["se"]])
    if layer.shortcut_conv is not None:
        p["shortcut_conv"] = randomize_kernel(layer.shortcut_conv, rng, 0.2)
    if layer.shortcut_bn is not None:
        p["shortcut_bn"] = randomize_batch_norm(layer.shortcut_bn, rng)
    return p


CASES = [
    # (bottleneck, filters, in_channels, size, stride, preact, shortcut, se_ratio, groups)
    (False, 8, 8, 6, 1, False, "A", None, 1),
    (False, 16, 8, 7, 2, False, "A", None, 1),
    (False, 16, 8, 8, 2, False, "B", None, 1),
    (False, 16, 8, 7, 2, False, "B", 4, 1),
    (False, 16, 8, 6, 1, False, "B", None, 1),
    (False, 16, 8, 7, 2, True, "A", None, 1),
    (False, 16, 8, 7, 2, True, "B", None, 1),
    (False, 16, 16, 6, 1, True, "B", 4, 2),
    (True, 4, 8, 7, 2, False, "B", 4, 2),
    (True, 4, 8, 8, 2, False, "A", None, 1),
    (True, 4, 16, 6, 1, False, "B", None, 1),
    (True, 4, 8, 7, 2, True, "B", 8, 1),
    (True, 4, 8, 6, 1, True, "A", None, 1),
]


@pytest.mark.parametrize("case", CASES)
def test_block_matches_numpy_reference(case, rng):
    bottleneck, filters, cin, size, stride, preact, shortcut, se_ratio, groups = case
    cls = BottleneckBlock if bottleneck else BasicBlock
    layer = cls(
        filters, stride=stride, preact=preact, shortcut=shortcut, se_ratio=se_ratio, groups=groups
    )
    x = rng.normal(size=(2, size, size, cin)).astype("float32")
    layer.build(x.shape)
    p = randomize(layer, rng)
    out_channels = filters * 4 if bottleneck else filters
    expected = reference_block(
        x.astype(np.float64),
        p,
        bottleneck=bottleneck,
        stride=stride,
        preact=preact,
        shortcut=shortcut,
        out_channels=out_channels,
        groups=groups,
    )
    got = keras.ops.convert_to_numpy(layer(x, training=False))
    assert got.shape == expected.shape == (2, -(-size // stride), -(-size // stride), out_channels)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_projection_only_where_shape_changes():
    same = BasicBlock(8, shortcut="B")
    same.build((None, 8, 8, 8))
    assert same.shortcut_conv is None
    wider = BasicBlock(16, shortcut="B")
    wider.build((None, 8, 8, 8))
    assert wider.shortcut_conv.kernel.shape == (1, 1, 8, 16)
    assert wider.shortcut_conv.strides == (1, 1)
    assert wider.shortcut_bn.gamma.shape == (16,)
    preact = BasicBlock(8, stride=2, preact=True, shortcut="B")
    preact.build((None, 8, 8, 8))
    assert preact.shortcut_conv.kernel.shape == (1, 1, 8, 8)
    assert preact.shortcut_conv.strides == (2, 2)
    assert preact.shortcut_bn is None
    zero_pad = BasicBlock(16, stride=2, shortcut="A")
    zero_pad.build((None, 8, 8, 8))
    assert zero_pad.shortcut_conv is None


def test_batchnorm_uses_torch_momentum_and_epsilon():
    block = BottleneckBlock(4, shortcut="B")
    block.build((None, 6, 6, 8))
    for bn in [*block.bns, block.shortcut_bn]:
        assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5)


def test_convolutions_have_no_bias():
    block = BottleneckBlock(4, stride=2, shortcut="B")
    block.build((None, 6, 6, 8))
    assert all(not conv.use_bias for conv in [*block.convs, block.shortcut_conv])


def test_every_kernel_gets_the_regularizer():
    # conv1, conv2, shortcut_conv, SE reduce and expand
    kwargs = {"filters": 16, "stride": 2, "shortcut": "B", "se_ratio": 4}
    check_kernel_regularizer(BasicBlock, kwargs, (2, 8, 8, 8), num_kernels=5)


def test_dropout_acts_on_the_residual_branch_in_training_only(rng):
    x = rng.normal(size=(4, 6, 6, 8)).astype("float32")
    with_dropout = BasicBlock(8, preact=True, dropout=0.5)
    without = BasicBlock(8, preact=True)
    with_dropout(x)
    without(x)
    without.set_weights(with_dropout.get_weights())
    np.testing.assert_allclose(
        with_dropout(x, training=False), without(x, training=False), atol=1e-6
    )
    assert not np.allclose(with_dropout(x, training=True), without(x, training=True), atol=1e-3)
    # With the last convolution zeroed the branch is 0, so dropout before it can change nothing.
    for block in (with_dropout, without):
        block.convs[1].set_weights([np.zeros(block.convs[1].kernel.shape, "float32")])
    np.testing.assert_allclose(with_dropout(x, training=True), without(x, training=True), atol=1e-6)


def test_unknown_spatial_size_output_shape():
    block = BottleneckBlock(8, stride=2)
    assert block.compute_output_shape((None, None, 9, 16)) == (None, None, 5, 32)


@pytest.mark.parametrize(
    "cls, kwargs, out_channels, trainable, non_trainable",
    [
        # BN: gamma and beta trainable, moving mean and variance not; SE: two kernels, two biases.
        # conv1, bn1, conv2, bn2, projection conv + bn, SE
        (BasicBlock, {"shortcut": "B", "se_ratio": 4, "dropout": 0.1}, 8, 1 + 2 + 1 + 2 + 3 + 4, 6),
        # bn1, conv1, bn2, conv2, projection conv (no BN after it in a pre-activation unit)
        (BasicBlock, {"preact": True, "shortcut": "B"}, 8, 2 + 1 + 2 + 1 + 1, 4),
        # three convs, three BNs, SE (on 4 * 4 = 16 channels), projection conv + bn
        (BottleneckBlock, {"shortcut": "B", "se_ratio": 4}, 16, 3 + 6 + 4 + 3, 8),
        # three BNs (pre-activation), three convs, zero-padding shortcut: no weights
        (BottleneckBlock, {"preact": True, "shortcut": "A", "groups": 2}, 16, 6 + 3, 6),
    ],
)
def test_layer_contract(cls, kwargs, out_channels, trainable, non_trainable):
    filters = 4 if cls is BottleneckBlock else 8
    run_layer_test(
        cls,
        {"filters": filters, "stride": 2, **kwargs},
        input_shape=(2, 5, 5, 4),
        expected_output_shape=(2, 3, 3, out_channels),
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(filters=0), "filters"),
        (dict(filters=2.5), "filters"),
        (dict(filters=8, stride=3), "stride"),
        (dict(filters=8, shortcut="C"), "shortcut"),
        (dict(filters=8, preact="yes"), "preact"),
        (dict(filters=8, dropout=1.0), "dropout"),
        (dict(filters=8, dropout=-0.1), "dropout"),
        (dict(filters=8, se_ratio=0), "se_ratio"),
        (dict(filters=8, groups=3), "groups"),
        (dict(filters=8, groups=0), "groups"),
    ],
)
@pytest.mark.parametrize("cls", [BasicBlock, BottleneckBlock])
def test_invalid_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_invalid_expansion():
    with pytest.raises(ValueError, match="expansion"):
        BottleneckBlock(8, expansion=0)


def test_shortcut_a_cannot_drop_channels():
    with pytest.raises(ValueError, match="shortcut='B'"):
        BasicBlock(8, shortcut="A").build((None, 8, 8, 16))


def test_groups_must_divide_input_channels():
    with pytest.raises(ValueError, match="groups"):
        BasicBlock(8, groups=4, shortcut="B").build((None, 8, 8, 6))
    BottleneckBlock(8, groups=4, shortcut="B").build((None, 8, 8, 6))  # 3x3 conv only: fine


def test_rank_must_be_four():
    with pytest.raises(ValueError, match="channels"):
        BasicBlock(8).build((None, 8, 8))


@pytest.mark.parametrize("size", [7, 8])
def test_shortcut_a_subsamples_and_routes_gradients_like_strided_slicing(size, rng):
    block = BasicBlock(16, stride=2, shortcut="A")
    x = tf.constant(rng.normal(size=(2, size, size, 8)).astype("float32"))
    block.build(x.shape)
    half = -(-size // 2)
    weight = tf.constant(rng.normal(size=(2, half, half, 16)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = block._shortcut(x, x, training=True)
        loss = tf.reduce_sum(s * weight)
    dx = tape.gradient(loss, x).numpy()
    xn, wn = x.numpy(), weight.numpy()
    np.testing.assert_array_equal(s.numpy()[..., :8], xn[:, ::2, ::2, :])
    np.testing.assert_array_equal(s.numpy()[..., 8:], 0.0)
    expected = np.zeros_like(xn)
    expected[:, ::2, ::2, :] = wn[..., :8]
    np.testing.assert_array_equal(dx, expected)
