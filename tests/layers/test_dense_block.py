import keras
import numpy as np
import pytest

from kzoo.layers import DenseBlock, TransitionBlock
from tests.helpers import check_kernel_regularizer, count_trainable, run_layer_test
from tests.numpy_reference import batch_norm, conv, randomize_batch_norm, randomize_kernel, relu


def np_bn_relu(x, gamma, beta, mean, var):
    return relu(batch_norm(x, gamma, beta, mean, var))


def randomize_dense_block(block, rng):
    """Give every sub-layer random weights (and non-trivial moving statistics); return them."""
    params = []
    for i in range(block.num_layers):
        entry = {"bn": randomize_batch_norm(block.norms[i], rng)}
        if block.bottleneck:
            entry["w1"] = randomize_kernel(block.bottleneck_convs[i], rng, 0.3)
            entry["bn2"] = randomize_batch_norm(block.bottleneck_norms[i], rng)
        entry["w"] = randomize_kernel(block.convs[i], rng, 0.3)
        params.append(entry)
    return params


def np_dense_block(x, params):
    for p in params:
        y = np_bn_relu(x, *p["bn"])
        if "w1" in p:
            y = np_bn_relu(conv(y, p["w1"], padding="symmetric"), *p["bn2"])
        x = np.concatenate([x, conv(y, p["w"], padding="symmetric")], axis=-1)
    return x


def np_transition(x, bn, w):
    y = conv(np_bn_relu(x, *bn), w, padding="symmetric")
    n, h, wd, c = y.shape
    y = y[:, : h // 2 * 2, : wd // 2 * 2]
    return y.reshape(n, h // 2, 2, wd // 2, 2, c).mean(axis=(2, 4))


@pytest.mark.parametrize("bottleneck", [False, True])
def test_dense_block_matches_numpy(rng, bottleneck):
    x = rng.normal(size=(2, 6, 5, 7)).astype("float32")
    block = DenseBlock(3, 4, bottleneck=bottleneck)
    block.build(x.shape)
    params = randomize_dense_block(block, rng)
    expected = np_dense_block(x.astype(np.float64), params)
    assert expected.shape == (2, 6, 5, 7 + 3 * 4)
    np.testing.assert_allclose(block(x, training=False), expected, atol=1e-5, rtol=1e-5)


def test_dense_block_training_mode_uses_batch_statistics(rng):
    x = rng.normal(loc=1.0, size=(4, 5, 5, 3)).astype("float32")
    block = DenseBlock(2, 3)
    block.build(x.shape)
    params = randomize_dense_block(block, rng)
    xd = x.astype(np.float64)
    for p in params:
        gamma, beta = p["bn"][:2]
        y = np_bn_relu(xd, gamma, beta, xd.mean(axis=(0, 1, 2)), xd.var(axis=(0, 1, 2)))
        xd = np.concatenate([xd, conv(y, p["w"], padding="symmetric")], axis=-1)
    np.testing.assert_allclose(block(x, training=True), xd, atol=1e-5, rtol=1e-5)


def test_bn_matches_torch_defaults():
    block = DenseBlock(1, 2, bottleneck=True)
    for norm in block.norms + block.bottleneck_norms:
        assert norm.momentum == pytest.approx(0.9) and norm.epsilon == pytest.approx(1e-5)
    assert TransitionBlock().norm.momentum == pytest.approx(0.9)


@pytest.mark.parametrize("compression, width", [(1.0, 7), (0.5, 3), (0.3, 2)])
def test_transition_matches_numpy(rng, compression, width):
    # Odd width: the 2x2 pooling floors, as the paper's Torch pooling does.
    x = rng.normal(size=(2, 6, 7, 7)).astype("float32")
    layer = TransitionBlock(compression=compression)
    layer.build(x.shape)
    bn = randomize_batch_norm(layer.norm, rng)
    w = randomize_kernel(layer.conv, rng, 0.3)
    assert w.shape == (1, 1, 7, width)
    out = layer(x, training=False)
    assert tuple(out.shape) == (2, 3, 3, width)
    np.testing.assert_allclose(
        out, np_transition(x.astype(np.float64), bn, w), atol=1e-5, rtol=1e-5
    )


def test_parameter_counts():
    block = DenseBlock(2, 4, bottleneck=True)
    block.build((None, 8, 8, 6))
    # per layer: BN(c) 2c, 1x1 conv c*4k, BN(4k) 8k, 3x3 conv 9*4k*k; c = 6 then 10.
    expected = sum(2 * c + c * 16 + 32 + 9 * 16 * 4 for c in (6, 10))
    assert count_trainable(block) == expected
    transition = TransitionBlock(compression=0.5)
    transition.build((None, 8, 8, 14))
    assert count_trainable(transition) == 2 * 14 + 14 * 7


def test_convs_have_no_bias_and_same_shaped_kernels_start_different():
    # One initializer instance is passed; every convolution must still get its own draw.
    block = DenseBlock(2, 4, bottleneck=True, kernel_initializer=keras.initializers.HeNormal())
    block.build((None, 8, 8, 4))
    assert all(not conv.use_bias for conv in block.convs + block.bottleneck_convs)
    first, second = (np.asarray(conv.kernel) for conv in block.convs)  # both (3, 3, 16, 4)
    assert not np.allclose(first, second)


@pytest.mark.parametrize(
    "cls, kwargs, out_channels, trainable, non_trainable",
    [
        # per layer: BN gamma, beta and conv kernel (+ BN and 1x1 kernel with a bottleneck)
        (DenseBlock, {"num_layers": 2, "growth_rate": 3}, 5 + 2 * 3, 2 * 3, 2 * 2),
        (DenseBlock, {"num_layers": 2, "growth_rate": 3, "bottleneck": True, "dropout": 0.2},
         5 + 2 * 3, 2 * 6, 2 * 4),
        (TransitionBlock, {"compression": 0.5}, 2, 3, 2),
        (TransitionBlock, {"compression": 1.0, "dropout": 0.2}, 5, 3, 2),
    ],
)
def test_layer_contract(cls, kwargs, out_channels, trainable, non_trainable):
    pooled = 2 if cls is TransitionBlock else 4
    run_layer_test(
        cls,
        kwargs,
        input_shape=(2, 4, 4, 5),
        expected_output_shape=(2, pooled, pooled, out_channels),
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
    )


def test_kernel_regularizer_reaches_every_kernel():
    # two layers x (1x1 bottleneck + 3x3) convolutions; one 1x1 convolution
    check_kernel_regularizer(
        DenseBlock, {"num_layers": 2, "growth_rate": 3, "bottleneck": True}, (2, 4, 4, 3), 4
    )
    check_kernel_regularizer(TransitionBlock, {"compression": 0.5}, (2, 4, 4, 4), 1)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"num_layers": 0, "growth_rate": 4}, "num_layers"),
        ({"num_layers": 2.0, "growth_rate": 4}, "num_layers"),
        ({"num_layers": 2, "growth_rate": 0}, "growth_rate"),
        ({"num_layers": 2, "growth_rate": 4, "dropout": 1.0}, "dropout"),
        ({"num_layers": 2, "growth_rate": 4, "dropout": -0.1}, "dropout"),
        ({"num_layers": 2, "growth_rate": 4, "bottleneck": 1}, "bottleneck"),
    ],
)
def test_dense_block_invalid_args(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        DenseBlock(**kwargs)


@pytest.mark.parametrize("compression", [0, 0.0, -0.5, 1.5, True, "0.5"])
def test_transition_invalid_compression(compression):
    with pytest.raises(ValueError, match="compression"):
        TransitionBlock(compression=compression)


def test_transition_rejects_inputs_it_cannot_pool_or_compress():
    with pytest.raises(ValueError, match="at least 2"):
        TransitionBlock()(np.zeros((1, 1, 4, 3), "float32"))
    with pytest.raises(ValueError, match="compression"):
        TransitionBlock(compression=0.2)(np.zeros((1, 4, 4, 3), "float32"))


def test_rank_must_be_4():
    with pytest.raises(ValueError, match="4D"):
        DenseBlock(1, 2)(np.zeros((2, 8, 3), "float32"))
