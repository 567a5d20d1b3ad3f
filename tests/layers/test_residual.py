import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.layers import BasicBlock, BottleneckBlock
from tests.layer_checks import run_layer_checks

EPS = 1e-5  # the blocks' BatchNorm epsilon (PyTorch's default)


# ---------------------------------------------------------------- NumPy reference (the papers' blocks)
def np_conv(x, w, stride=1, groups=1):
    """NHWC convolution, no bias, PyTorch padding: k//2 zeros on every side."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    ho = (x.shape[1] + 2 * p - k) // stride + 1
    wo = (x.shape[2] + 2 * p - k) // stride + 1
    cin_g, cout = w.shape[2], w.shape[3]
    cout_g = cout // groups
    out = np.zeros((x.shape[0], ho, wo, cout), np.float64)
    for g in range(groups):
        xg = xp[..., g * cin_g : (g + 1) * cin_g]
        wg = w[..., g * cout_g : (g + 1) * cout_g]
        for i in range(k):
            for j in range(k):
                patch = xg[:, i : i + stride * ho : stride, j : j + stride * wo : stride, :]
                out[..., g * cout_g : (g + 1) * cout_g] += patch @ wg[i, j]
    return out


def np_bn(x, params):
    gamma, beta, mean, var = params
    return gamma * (x - mean) / np.sqrt(var + EPS) + beta


def np_se(x, params):
    w1, b1, w2, b2 = params
    h = np.maximum(x.mean(axis=(1, 2)) @ w1 + b1, 0.0)
    return x * (1.0 / (1.0 + np.exp(-(h @ w2 + b2))))[:, None, None, :]


def relu(x):
    return np.maximum(x, 0.0)


def shortcut_a(x, stride, out_channels):
    s = x[:, ::stride, ::stride, :]
    zeros = np.zeros(s.shape[:-1] + (out_channels - s.shape[-1],))
    return np.concatenate([s, zeros], axis=-1)


def reference_block(x, p, *, bottleneck, stride, preact, shortcut, out_channels, groups=1):
    """The block as the papers define it, from a dict of NumPy weights `p`."""
    strides = (1, stride, 1) if bottleneck else (stride, 1)
    conv_groups = (1, groups, 1) if bottleneck else (groups, groups)
    if preact:
        pre = relu(np_bn(x, p["bn"][0]))
        h = pre
        for i, w in enumerate(p["conv"]):
            if i > 0:
                h = relu(np_bn(h, p["bn"][i]))
            h = np_conv(h, w, strides[i], conv_groups[i])
    else:
        h = x
        for i, w in enumerate(p["conv"]):
            h = np_bn(np_conv(h, w, strides[i], conv_groups[i]), p["bn"][i])
            if i < len(p["conv"]) - 1:
                h = relu(h)
    if "se" in p:
        h = np_se(h, p["se"])
    projection = shortcut == "B" and (stride != 1 or x.shape[-1] != out_channels)
    if projection:
        s = np_conv(pre if preact else x, p["shortcut_conv"], stride)
        if not preact:
            s = np_bn(s, p["shortcut_bn"])
    else:
        s = shortcut_a(x, stride, out_channels)
    return h + s if preact else relu(h + s)


def randomize(layer, rng):
    """Random kernels and non-trivial BatchNorm statistics; returns them as NumPy, by role."""

    def bn_params(bn):
        c = bn.gamma.shape[0]
        values = [
            rng.uniform(0.5, 1.5, c),
            rng.normal(0, 0.3, c),
            rng.normal(0, 0.5, c),
            rng.uniform(0.5, 2.0, c),
        ]
        bn.set_weights([v.astype("float32") for v in values])
        return values

    def kernel(conv):
        w = rng.normal(0, 0.2, conv.kernel.shape)
        conv.set_weights([w.astype("float32")])
        return w

    p = {"conv": [kernel(c) for c in layer.convs], "bn": [bn_params(b) for b in layer.bns]}
    if layer.se is not None:
        p["se"] = [rng.normal(0, 0.5, w.shape) for w in layer.se.get_weights()]
        layer.se.set_weights([w.astype("float32") for w in p["se"]])
    if layer.shortcut_conv is not None:
        p["shortcut_conv"] = kernel(layer.shortcut_conv)
    if layer.shortcut_bn is not None:
        p["shortcut_bn"] = bn_params(layer.shortcut_bn)
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
    assert wider.shortcut_conv is not None and wider.shortcut_bn is not None
    preact = BasicBlock(8, stride=2, preact=True, shortcut="B")
    preact.build((None, 8, 8, 8))
    assert preact.shortcut_conv is not None and preact.shortcut_bn is None
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
    reg = keras.regularizers.L2(1e-3)
    block = BasicBlock(16, stride=2, shortcut="B", se_ratio=4, kernel_regularizer=reg)
    x = np.ones((2, 8, 8, 8), "float32")
    block(x)
    kernels = [w for w in block.trainable_weights if "kernel" in w.path]
    assert len(kernels) == 5  # conv1, conv2, shortcut_conv, SE reduce and expand
    assert all(w.regularizer is not None for w in kernels)
    expected = sum(1e-3 * np.sum(np.square(keras.ops.convert_to_numpy(w))) for w in kernels)
    np.testing.assert_allclose(sum(float(v) for v in block.losses), expected, rtol=1e-5)
    clone = BasicBlock.from_config(block.get_config())
    clone(x)
    assert len(clone.losses) == 5


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


def test_generic_checks_basic(rng, tmp_path):
    x = rng.normal(size=(4, 6, 6, 4)).astype("float32")
    run_layer_checks(
        lambda: BasicBlock(8, stride=2, shortcut="B", se_ratio=4, dropout=0.1),
        x,
        tmp_path,
        atol=1e-5,
    )


def test_generic_checks_preact_bottleneck(rng, tmp_path):
    x = rng.normal(size=(4, 5, 5, 8)).astype("float32")
    run_layer_checks(
        lambda: BottleneckBlock(4, stride=2, preact=True, shortcut="A", groups=2),
        x,
        tmp_path,
        atol=1e-5,
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


@pytest.mark.parametrize("cls", [BasicBlock, BottleneckBlock])
@pytest.mark.parametrize("preact, shortcut, se_ratio", [(False, "B", 4), (True, "B", None)])
def test_block_with_its_own_mixed_policy_matches_float32(cls, preact, shortcut, se_ratio, rng):
    """Every sub-layer follows the block's dtype policy: bf16 compute, float32 weights."""
    x = rng.normal(size=(2, 7, 7, 8)).astype("float32")
    kwargs = dict(stride=2, preact=preact, shortcut=shortcut, se_ratio=se_ratio)
    full = cls(16, **kwargs)
    mixed = cls(16, dtype="mixed_bfloat16", **kwargs)
    full.build(x.shape)
    mixed.build(x.shape)
    mixed.set_weights(full.get_weights())
    got = mixed(x, training=False)
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    assert {keras.backend.standardize_dtype(w.dtype) for w in mixed.weights} == {"float32"}
    expected = keras.ops.convert_to_numpy(full(x, training=False))
    got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32"))
    # bfloat16 keeps 8 significant bits: compare relative to the output's scale.
    assert np.max(np.abs(got - expected)) <= 0.05 * np.max(np.abs(expected))


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
