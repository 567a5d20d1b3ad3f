"""Recurrent classifiers of sequences (time, features): stacked LSTM / GRU and the 2-D Grid LSTM.

One builder, `recurrent_net`, reads a sequence with `depth` recurrent layers of one kind and hands
the classifier one of three read-outs: the last step's output, every step's output flattened
(Greydanus 2020's MNIST-1D GRU), or their mean over time. Layer names: `rnn_i` (i = 1 ... depth;
`bi_rnn_i` when bidirectional), `dropout_i`, `flatten`, then the shared head (`avg_pool`,
`predictions`); a Grid LSTM is one layer, `grid_lstm` (`bi_grid_lstm`), whose depth is inside it.
"""

from __future__ import annotations

import keras

from kzoo.layers import Bidirectional, GridLSTM
from kzoo.layers._validation import check_choice, check_positive_int, check_rate
from kzoo.models._head import apply_head, resolve_inputs, validate_head_args
from kzoo.models.pretrained import apply_weights

CELLS = ("lstm", "gru", "grid_lstm")
READOUTS = ("last", "flatten", "mean")
DEFAULT_SHAPE = (40, 1)  # MNIST-1D: 40 steps of one feature


def _validate(cell, units, depth, bidirectional, readout, tied, dropout):
    check_choice("cell", cell, CELLS)
    check_positive_int("units", units)
    check_positive_int("depth", depth)
    if not isinstance(bidirectional, bool):
        raise ValueError(
            f"`bidirectional` must be True or False; received bidirectional={bidirectional!r}."
        )
    check_choice("readout", readout, READOUTS)
    if tied is not None and cell != "grid_lstm":
        raise ValueError(
            f"`tied` applies to cell='grid_lstm' only (weights shared across depth); received "
            f"tied={tied!r} with cell={cell!r}."
        )
    if tied is not None and not isinstance(tied, bool):
        raise ValueError(f"`tied` must be None, True or False; received tied={tied!r}.")
    check_rate("dropout", dropout)


def _recurrent_layer(cell, units, depth, tied, return_sequences, regularizer, name):
    if cell == "grid_lstm":
        return GridLSTM(units, depth=depth, tied=True if tied is None else tied,
                        return_sequences=return_sequences, kernel_regularizer=regularizer,
                        name=name)
    cls = keras.layers.LSTM if cell == "lstm" else keras.layers.GRU
    return cls(units, return_sequences=return_sequences, kernel_regularizer=regularizer,
               name=name)


def recurrent_net(
    cell="lstm",
    units=32,
    depth=1,
    bidirectional=False,
    readout="last",
    tied=None,
    dropout=0.0,
    *,
    kernel_regularizer=None,
    include_top=True,
    input_shape=None,
    input_tensor=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    name=None,
    weights=None,
):
    """A recurrent sequence classifier: stacked LSTM / GRU layers or one 2-D Grid LSTM.

    Inputs are (time, features) sequences. `cell="lstm"` or `"gru"` stacks `depth` Keras layers
    (each reads the previous one's output sequence; Keras' GRU uses the `reset_after` form, as
    cuDNN and PyTorch do); `cell="grid_lstm"` is one `kzoo.layers.GridLSTM` with `depth` blocks
    per time step, where memory cells and gates run along depth too. With `bidirectional` each
    recurrent layer reads the sequence both ways (`kzoo.layers.Bidirectional`, Keras' wrapper,
    outputs concatenated).

    Args:
        cell: "lstm", "gru" or "grid_lstm".
        units: width of each recurrent layer's output and state (per direction).
        depth: stacked layers (lstm, gru) or blocks along depth (grid_lstm). Positive integer.
        bidirectional: read each layer's input forwards and backwards.
        readout: what the classifier sees: "last" (the final step's output), "flatten" (every
            step's output, flattened: needs a fixed length) or "mean" (the outputs averaged over
            time, by the head's average pooling).
        tied: grid_lstm only: share block weights across depth (None means True, the paper's
            tied 2-LSTM).
        dropout: rate in [0, 1) of dropout after each recurrent layer.
        kernel_regularizer: regularizer of the recurrent layers' input kernels (Grid LSTM: every
            block kernel and the projection), or None.
        include_top, input_shape, input_tensor, pooling, classes, classifier_activation, name:
            as in `keras.applications`; default input shape (40, 1) (MNIST-1D). Without the top,
            "last" and "flatten" give (batch, features) and "mean" gives the output sequence
            (pooled if `pooling` is set).
        weights: None (random initialisation), or trained weights as `kzoo.create_model`
            takes them (a file, a finished run, an exported SavedModel, a registered name).

    Returns:
        A `keras.Model`.

    Example:
        >>> model = recurrent_net("gru", units=6, bidirectional=True, readout="flatten",
        ...                       input_shape=(40, 1), classes=10)   # Greydanus' GRU, 5,134 params
        >>> grid = recurrent_net("grid_lstm", units=16, depth=3, tied=True, classes=10)

    Reference:
        Hochreiter, Schmidhuber. "Long Short-Term Memory." Neural Computation 1997. Cho et al.
        "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
        Translation." EMNLP 2014 (the GRU). Kalchbrenner, Danihelka, Graves. "Grid Long
        Short-Term Memory." ICLR 2016. Greydanus. "Scaling down Deep Learning." 2020.
    """
    _validate(cell, units, depth, bidirectional, readout, tied, dropout)
    validate_head_args(include_top, pooling, classes, classifier_activation)
    inputs, x = resolve_inputs(input_shape, input_tensor, DEFAULT_SHAPE)
    if readout == "flatten" and x.shape[1] is None:
        raise ValueError(
            "readout='flatten' needs a fixed sequence length; received input_shape="
            f"{tuple(x.shape[1:])}. Use readout='last' or 'mean' for variable lengths."
        )
    sequences_out = readout != "last"
    layers = 1 if cell == "grid_lstm" else depth
    for i in range(1, layers + 1):
        base = "grid_lstm" if cell == "grid_lstm" else f"rnn_{i}"
        last = i == layers
        layer = _recurrent_layer(cell, units, depth, tied, sequences_out or not last,
                                 kernel_regularizer, base)
        if bidirectional:
            layer = Bidirectional(layer, name=f"bi_{base}")
        x = layer(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    if readout == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    outputs = apply_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return apply_weights(keras.Model(inputs, outputs, name=name or f"{cell}_net"), weights, name)
