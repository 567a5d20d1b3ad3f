"""The recurrent family: parameter counts from the cells' equations, read-outs, MACs, errors."""

import keras
import numpy as np
import pytest

import kzoo
from kzoo.models.recurrent import recurrent_net


def trainable(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def lstm_params(inputs, units):
    return 4 * (inputs * units + units * units + units)  # i, f, c, o: kernel, recurrent, bias


def gru_params(inputs, units):
    # reset_after (cuDNN / PyTorch form): separate input and recurrent biases per gate.
    return 3 * (inputs * units + units * units + 2 * units)


def grid_block_params(units):
    return (2 * units) * (8 * units) + 8 * units  # H = [h_time; h_depth] -> both dimensions' gates


def test_registered_gru_is_greydanus_mnist1d_gru():
    model = kzoo.create_model("gru")
    # Greydanus 2020's GRUBase: bidirectional, hidden 6, 40 steps x 12 features -> Linear(480, 10).
    assert trainable(model) == 2 * gru_params(1, 6) + (40 * 12 * 10 + 10) == 5_134
    assert model.input.shape == (None, 40, 1)
    assert model.get_layer("flatten").output.shape == (None, 480)


def test_registered_lstm_and_grid_lstm_parameter_counts():
    lstm = kzoo.create_model("lstm")
    assert trainable(lstm) == lstm_params(1, 32) + lstm_params(32, 32) + 33 * 10 == 13_002
    grid = kzoo.create_model("grid_lstm")
    assert trainable(grid) == 1 * 16 + grid_block_params(16) + 17 * 10 == 4_410
    untied = kzoo.create_model("grid_lstm", tied=False)
    assert trainable(untied) == 16 + 3 * grid_block_params(16) + 170


def test_macs_are_per_step_cell_work_times_steps():
    assert kzoo.count_macs(kzoo.create_model("gru")) == 2 * 40 * (1 * 18 + 6 * 18) + 480 * 10
    assert kzoo.count_macs(kzoo.create_model("lstm")) == 40 * (128 + 32 * 128 + 64 * 128) + 320
    # A tied block is applied at every depth level: 3 block matmuls per step, one set of weights.
    grid = kzoo.count_macs(kzoo.create_model("grid_lstm"))
    assert grid == 40 * (16 + 3 * 32 * 128) + 160


@pytest.mark.parametrize("cell", ["lstm", "gru", "grid_lstm"])
def test_readouts_and_headless_shapes(cell):
    kw = dict(cell=cell, units=5, depth=2, input_shape=(7, 3))
    assert recurrent_net(**kw, readout="last", include_top=False).output.shape == (None, 5)
    flat = recurrent_net(**kw, readout="flatten", bidirectional=True, include_top=False)
    assert flat.output.shape == (None, 7 * 10)
    seq = recurrent_net(**kw, readout="mean", include_top=False)
    assert seq.output.shape == (None, 7, 5)
    pooled = recurrent_net(**kw, readout="mean", classes=4)
    assert pooled.get_layer("avg_pool").output.shape == (None, 5)
    assert pooled.output.shape == (None, 4)


def test_stacked_layers_and_variable_length_inputs(rng):
    model = recurrent_net("lstm", units=4, depth=3, dropout=0.1, input_shape=(None, 2), classes=3)
    assert [layer.name for layer in model.layers if layer.name.startswith("rnn_")] == [
        "rnn_1", "rnn_2", "rnn_3"
    ]
    assert [model.get_layer(f"rnn_{i}").return_sequences for i in (1, 2, 3)] == [True, True, False]
    for length in (3, 9):
        x = rng.normal(size=(2, length, 2)).astype("float32")
        probabilities = keras.ops.convert_to_numpy(model(x))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_mean_readout_is_the_average_of_the_output_sequence(rng):
    x = rng.normal(size=(2, 6, 1)).astype("float32")
    model = recurrent_net("grid_lstm", units=3, depth=2, readout="mean", include_top=False,
                          pooling="avg", input_shape=(6, 1))
    sequences = keras.Model(model.input, model.get_layer("grid_lstm").output)
    np.testing.assert_allclose(model(x), keras.ops.mean(sequences(x), axis=1), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cell": "rnn"}, "cell must be one of lstm, gru, grid_lstm; received cell='rnn'"),
        ({"cell": "lstm", "tied": False}, "`tied` applies to cell='grid_lstm' only"),
        ({"cell": "grid_lstm", "tied": 1}, "`tied` must be None, True or False"),
        ({"readout": "first"}, "readout must be one of last, flatten, mean; received readout='first'"),
        ({"units": 0}, "units must be a positive integer; received units=0"),
        ({"bidirectional": "yes"}, "`bidirectional` must be True or False"),
        ({"readout": "flatten", "input_shape": (None, 1)}, "readout='flatten' needs a fixed"),
        ({"input_shape": (40,)}, "`input_shape` must have rank 2"),
    ],
)
def test_bad_arguments_are_refused_before_building(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        recurrent_net(**kwargs, classes=10)
