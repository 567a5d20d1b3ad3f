"""GridLSTM / GridLSTMCell against a NumPy transcription of the paper's equations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.layers import Bidirectional, GridLSTM, GridLSTMCell
from tests.helpers import run_layer_test


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_lstm(z, m):
    """Kalchbrenner et al. Eq. 1-2: gates from W H, m' = f m + i c, h' = tanh(o m')."""
    i, f, c, o = np.split(z, 4, axis=-1)
    m = sigmoid(f) * m + sigmoid(i) * np.tanh(c)
    return np.tanh(sigmoid(o) * m), m


def np_block(h_time, m_time, h_depth, m_depth, kernel, bias):
    """One 2-D block: H = [h_time; h_depth], one LSTM transform per dimension."""
    z = np.concatenate([h_time, h_depth], axis=-1) @ kernel + bias
    half = z.shape[-1] // 2
    return (*np_lstm(z[:, :half], m_time), *np_lstm(z[:, half:], m_depth))


def np_grid_lstm(x, projection, kernels, biases, depth):
    """The whole grid over (time, depth); `kernels` has one entry when tied, else `depth`."""
    batch, steps, _ = x.shape
    units = projection.shape[1]
    h = [np.zeros((batch, units)) for _ in range(depth)]
    m = [np.zeros((batch, units)) for _ in range(depth)]
    outputs = []
    for t in range(steps):
        h_depth, m_depth = x[:, t] @ projection, np.zeros((batch, units))
        for d in range(depth):
            b = d if len(kernels) > 1 else 0
            h[d], m[d], h_depth, m_depth = np_block(h[d], m[d], h_depth, m_depth, kernels[b],
                                                    biases[b])
        outputs.append(h_depth)
    return np.stack(outputs, axis=1), h, m


def randomize(layer, rng, scale=0.5):
    weights = [scale * rng.normal(size=w.shape) for w in layer.get_weights()]
    layer.set_weights(weights)
    return weights


def split_weights(weights):
    """[projection, kernel_1, bias_1, kernel_2, bias_2, ...] -> projection, kernels, biases."""
    return weights[0], weights[1::2], weights[2::2]


def test_one_step_of_the_cell_matches_numpy(rng):
    units, depth = 5, 3
    cell = GridLSTMCell(units, depth=depth, tied=False, dtype="float64")
    x = rng.normal(size=(4, 3))
    states = [rng.normal(size=(4, units)) for _ in range(2 * depth)]
    cell.build((None, 3))
    projection, kernels, biases = split_weights(randomize(cell, rng))
    output, new_states = cell(x, states)

    h_depth, m_depth = x @ projection, np.zeros((4, units))
    expected = []
    for d in range(depth):
        h_t, m_t, h_depth, m_depth = np_block(states[2 * d], states[2 * d + 1], h_depth, m_depth,
                                              kernels[d], biases[d])
        expected += [h_t, m_t]
    np.testing.assert_allclose(output, h_depth, rtol=1e-12, atol=1e-12)
    assert len(new_states) == 2 * depth
    for got, want in zip(new_states, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tied", [True, False])
def test_sequence_matches_numpy_tied_and_untied(rng, tied):
    units, depth = 4, 3
    x = rng.normal(size=(2, 6, 3))
    layer = GridLSTM(units, depth=depth, tied=tied, return_sequences=True, return_state=True,
                     dtype="float64")
    layer(x)
    projection, kernels, biases = split_weights(randomize(layer, rng))
    assert len(kernels) == (1 if tied else depth)
    outputs, *states = layer(x)
    want, h, m = np_grid_lstm(x, projection, kernels, biases, depth)
    np.testing.assert_allclose(outputs, want, rtol=1e-12, atol=1e-12)
    for d in range(depth):
        np.testing.assert_allclose(states[2 * d], h[d], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(states[2 * d + 1], m[d], rtol=1e-12, atol=1e-12)


def test_weights_shapes_count_and_initial_biases():
    units, depth, features = 6, 4, 3
    tied = GridLSTM(units, depth=depth, tied=True)
    untied = GridLSTM(units, depth=depth, tied=False)
    for layer in (tied, untied):
        layer.build((None, 10, features))
    block = (2 * units) * (8 * units) + 8 * units
    assert tied.count_params() == features * units + block == 18 + 624
    assert untied.count_params() == features * units + depth * block
    bias = keras.ops.convert_to_numpy(tied.cell.biases[0])
    forget = np.zeros(8 * units)
    forget[units:2 * units] = forget[5 * units:6 * units] = 1.0  # f of time, f of depth
    np.testing.assert_array_equal(bias, forget)
    kernels = [keras.ops.convert_to_numpy(k) for k in untied.cell.kernels]
    assert not np.allclose(kernels[0], kernels[1])  # each block its own draw


def test_masked_steps_leave_the_state_alone(rng):
    """A sequence padded at the end and masked gives the same result as the short sequence."""
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    padded = np.concatenate([x, np.zeros((3, 3, 2), "float32")], axis=1)
    inputs = keras.Input((None, 2))
    layer = GridLSTM(4, depth=2, return_state=True)
    model = keras.Model(inputs, layer(keras.layers.Masking(0.0)(inputs)))
    short = [keras.ops.convert_to_numpy(t) for t in model(x)]
    long = [keras.ops.convert_to_numpy(t) for t in model(padded)]
    for a, b in zip(short, long, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    unmasked = keras.ops.convert_to_numpy(layer(padded)[0])
    assert np.abs(unmasked - short[0]).max() > 1e-3  # without the mask the padding counts


def test_runs_under_tf_function(rng):
    x = rng.normal(size=(16, 7, 1)).astype("float32")
    layer = GridLSTM(8, depth=2)
    eager = keras.ops.convert_to_numpy(layer(x))
    graph = tf.function(lambda t: layer(t), jit_compile=False)
    np.testing.assert_allclose(graph(tf.constant(x)), eager, atol=1e-6)


def test_generic_checks(rng, tmp_path):
    """Config and `.keras` round trips, symbolic and eager calls, a training step and the
    float32 / mixed_bfloat16 sweep: the checks every kzoo layer passes."""
    x = rng.normal(size=(4, 3, 2)).astype("float32")
    run_layer_test(
        GridLSTM, {"units": 3, "depth": 2, "tied": False, "unroll": True}, input_data=x,
        expected_output_shape=(4, 3), expected_num_trainable_weights=5,
    )


def test_bidirectional_saves_and_loads(rng, tmp_path):
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    inputs = keras.Input((6, 3))
    outputs = Bidirectional(GridLSTM(3, depth=2, return_sequences=True))(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "bidirectional.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.output.shape == (None, 6, 6)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)


def test_go_backwards_reads_the_reversed_sequence(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    forward = GridLSTM(4, depth=2)
    backward = GridLSTM(4, depth=2, go_backwards=True)
    forward(x)
    backward(x)
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x), forward(x[:, ::-1]), atol=1e-6)


def test_mixed_precision_keeps_float32_weights(rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = GridLSTM(4, dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(layer(x).dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, "units must be a positive integer; received units=0"),
        ({"units": 4, "depth": 1.5}, "depth must be a positive integer; received depth=1.5"),
        ({"units": 4, "tied": "yes"}, "`tied` must be True or False; received tied='yes'"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        GridLSTM(**kwargs)


def test_unknown_feature_dimension_is_refused():
    with pytest.raises(ValueError, match="known feature dimension"):
        GridLSTM(4).build((None, 5, None))


def test_kzoo_bidirectional_reloads_with_the_same_weight_paths(rng, tmp_path):
    x = rng.normal(size=(2, 5, 1)).astype("float32")
    inputs = keras.Input((5, 1))
    model = keras.Model(inputs, Bidirectional(keras.layers.GRU(3), name="bi")(inputs))
    model.save(tmp_path / "bi.keras")
    loaded = keras.saving.load_model(tmp_path / "bi.keras", safe_mode=True)
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert model.weights[0].path.startswith("bi/forward_")
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    plain = keras.layers.Bidirectional(keras.layers.GRU(3))
    plain(x)
    plain.set_weights(model.get_layer("bi").get_weights())
    np.testing.assert_allclose(plain(x), model(x), atol=1e-6)


def test_a_single_step_is_the_1d_grid_lstm_along_depth(rng):
    """With one time step the time dimension's hidden vectors are zero, so the grid reduces to the
    paper's 1-D Grid LSTM: LSTM transforms along depth only, a Highway-like feed-forward net."""
    units, depth = 4, 5
    x = rng.normal(size=(3, 1, 6))
    layer = GridLSTM(units, depth=depth, tied=False, dtype="float64")
    layer(x)
    projection, kernels, biases = split_weights(randomize(layer, rng))
    h, m = x[:, 0] @ projection, np.zeros((3, units))
    for d in range(depth):
        # Only the depth dimension's gates (columns 4u..8u), read from h_depth (rows u..2u).
        z = h @ kernels[d][units:, 4 * units:] + biases[d][4 * units:]
        h, m = np_lstm(z, m)
    np.testing.assert_allclose(layer(x), h, rtol=1e-12, atol=1e-12)
