import keras
import numpy as np
import pytest

from kzoo.layers import ChannelMaxout, Maxout
from tests.helpers import check_kernel_regularizer, random_weights, run_layer_test


def contiguous_max(z, pieces):
    """Unit i = max of columns i*pieces ... i*pieces + pieces - 1, written as an explicit loop."""
    groups = z.shape[-1] // pieces
    return np.stack([z[..., i * pieces : (i + 1) * pieces].max(-1) for i in range(groups)], -1)


@pytest.mark.parametrize("shape", [(6, 9), (3, 4, 9)])
def test_maxout_matches_numpy_contiguous_groups(rng, shape):
    x = rng.normal(size=shape).astype("float32")
    layer = Maxout(units=4, pieces=3)
    layer(x)
    kernel, bias = random_weights(layer, rng)
    assert kernel.shape == (9, 12)
    np.testing.assert_allclose(layer(x), contiguous_max(x @ kernel + bias, 3), atol=1e-5)


def test_contiguous_grouping_on_known_values():
    # Identity kernel, no bias: the layer pools its input columns, so the groups are visible.
    x = np.array([[5.0, 1.0, 0.0, 2.0, 9.0, 3.0]], "float32")
    layer = Maxout(units=3, pieces=2, use_bias=False, kernel_initializer="identity")
    np.testing.assert_array_equal(layer(x), [[5.0, 2.0, 9.0]])  # pairs (0,1) (2,3) (4,5)
    assert len(layer.weights) == 1


def test_tfa_grouping_is_a_column_permutation_of_ours(rng):
    # tfa.layers.Maxout(num_units=U) on C channels: reshape to (..., C // U, U), max over axis -2.
    units, pieces = 4, 3
    x = rng.normal(size=(5, 7)).astype("float32")
    layer = Maxout(units, pieces)
    layer(x)
    kernel, bias = random_weights(layer, rng)
    ours = keras.ops.convert_to_numpy(layer(x))
    perm = [i * pieces + j for j in range(pieces) for i in range(units)]  # tfa col j*U+i <- ours
    z_tfa = x @ kernel[:, perm] + bias[perm]
    tfa = z_tfa.reshape(5, pieces, units).max(axis=-2)
    np.testing.assert_allclose(tfa, ours, atol=1e-5)
    assert not np.allclose(z_tfa.reshape(5, pieces, units).max(-2), contiguous_max(z_tfa, pieces))


@pytest.mark.parametrize("shape", [(4, 12), (2, 3, 5, 12)])
def test_channel_maxout_matches_numpy(rng, shape):
    x = rng.normal(size=shape).astype("float32")
    y = ChannelMaxout(pieces=4)(x)
    assert tuple(y.shape) == (*shape[:-1], 3)
    np.testing.assert_array_equal(y, contiguous_max(x, 4))


def test_maxout_layer_contract():
    run_layer_test(
        Maxout,
        {"units": 3, "pieces": 2, "kernel_regularizer": "l2"},
        input_shape=(4, 5),
        expected_output_shape=(4, 3),
        expected_num_trainable_weights=2,
        expected_num_losses=1,
    )


def test_channel_maxout_layer_contract():
    run_layer_test(
        ChannelMaxout,
        {"pieces": 3},
        input_shape=(2, 3, 3, 6),
        expected_output_shape=(2, 3, 3, 2),
        expected_num_trainable_weights=0,
    )


def test_kernel_regularizer_reaches_the_kernel():
    check_kernel_regularizer(Maxout, {"units": 3, "pieces": 2}, (2, 5), num_kernels=1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"units": 0, "pieces": 2}, "units"),
        ({"units": -1, "pieces": 2}, "units"),
        ({"units": 4, "pieces": 0}, "pieces"),
        ({"units": 4, "pieces": -2}, "pieces"),
        ({"units": 4, "pieces": 2.5}, "pieces"),
        ({"units": 4, "pieces": 2, "use_bias": "yes"}, "use_bias"),
    ],
)
def test_maxout_invalid_args(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Maxout(**kwargs)


@pytest.mark.parametrize("pieces", [0, -3, True, "2"])
def test_channel_maxout_invalid_pieces(pieces):
    with pytest.raises(ValueError, match="pieces"):
        ChannelMaxout(pieces)


def test_channel_maxout_indivisible_channels():
    with pytest.raises(ValueError, match=r"pieces=4.*10 channels"):
        ChannelMaxout(4)(np.zeros((2, 3, 10), "float32"))
    with pytest.raises(ValueError, match="divisible"):
        ChannelMaxout(4).compute_output_shape((None, 6))
