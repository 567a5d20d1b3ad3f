"""Grid LSTM (Kalchbrenner, Danihelka & Graves 2015): LSTM cells along depth as well as time.

A 2-D Grid LSTM over a sequence is a grid of blocks indexed by (time t, depth d). Block (t, d)
receives two (hidden, memory) pairs: (h_time, m_time) from block (t - 1, d) and (h_depth, m_depth)
from block (t, d - 1). It concatenates the two hidden vectors into H = [h_time; h_depth] and applies
one LSTM transform per dimension, each with its own weights:

    i, f, c, o = split(W H + b)                    (W of shape (2 units, 4 units) per dimension)
    m' = sigmoid(f) * m + sigmoid(i) * tanh(c)
    h' = tanh(sigmoid(o) * m')                     (the paper's form of the LSTM output)

The time pair goes on to (t + 1, d), the depth pair up to (t, d + 1). At the bottom of each time
step the input is projected into the depth dimension, h_depth = x_t P with zero memory; the output
at time t is the top block's depth hidden vector. Weights are shared along time and, with
`tied=True` (the paper's "tied 2-LSTM"), also along depth; untied, each depth level has its own.
A stacked LSTM passes only hidden vectors up the stack; here memory cells and gates also run along
depth, which is what lets the grid learn how much of its depth to use -- the recurrent counterpart
of a Highway network's carry gate. On a sequence of one step the time dimension's hidden vectors
are zero and the grid is the paper's 1-D Grid LSTM: a feed-forward net with LSTM transforms along
depth, close kin of the Highway network.
"""

from __future__ import annotations

import keras
from keras import ops

from kzoo.layers._initializers import fresh_initializer
from kzoo.layers._validation import check_positive_int

_GATES = 4  # input, forget, candidate, output: Keras' LSTM order


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False; received {name}={value!r}.")
    return value


def lstm_transform(z, memory):
    """The paper's LSTM transform from pre-activations z = W H + b: returns (h', m')."""
    i, f, c, o = ops.split(z, _GATES, axis=-1)
    memory = ops.sigmoid(f) * memory + ops.sigmoid(i) * ops.tanh(c)
    return ops.tanh(ops.sigmoid(o) * memory), memory


@keras.saving.register_keras_serializable(package="kzoo")
class GridLSTMCell(keras.layers.Layer):
    """One time step of a 2-D Grid LSTM (time x depth), for `keras.layers.RNN`.

    The state is one (h_time, m_time) pair per depth level, `2 * depth` tensors of width `units`,
    in the order h_1, m_1, ..., h_depth, m_depth. The output is the top block's depth hidden
    vector. See the module docstring for the block's equations.

    Weights: `projection` P (input_dim, units), no bias (a bias of h_depth would only shift the
    first blocks' gate biases); per block a `kernel` (2 units, 8 units) -- columns 0..4u are the
    time dimension's gates, 4u..8u the depth dimension's, rows 0..u read h_time, u..2u read
    h_depth -- and a `bias` (8 units,). One block (`kernel`, `bias`) when `tied`, else `depth`
    blocks (`kernel_1`, `bias_1`, ...).

    Args:
        units: width of every hidden and memory vector. Positive integer.
        depth: number of blocks along depth per time step. Positive integer.
        tied: share the block weights across depth (the paper's tied Grid LSTM).
        unit_forget_bias: start both dimensions' forget-gate biases at 1 (Jozefowicz et al.
            2015), as Keras' LSTM does; otherwise all biases start at 0.
        kernel_initializer: initializer of the block kernels (a fresh draw per block).
        projection_initializer: initializer of the input projection P.
        kernel_regularizer: regularizer applied to every block kernel and to P, or None.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> cell = GridLSTMCell(32, depth=3, tied=True)
        >>> y = keras.layers.RNN(cell)(keras.random.normal((8, 40, 1)))  # shape (8, 32)

    Reference:
        Kalchbrenner, Danihelka, Graves. "Grid Long Short-Term Memory." ICLR 2016
        (arXiv:1507.01526).
    """

    def __init__(
        self,
        units,
        depth=2,
        tied=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        projection_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.depth = check_positive_int("depth", depth)
        self.tied = _check_bool("tied", tied)
        self.unit_forget_bias = _check_bool("unit_forget_bias", unit_forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.projection_initializer = keras.initializers.get(projection_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.state_size = [self.units] * (2 * self.depth)
        self.output_size = self.units

    @property
    def blocks(self) -> int:
        """Number of distinct blocks of weights: 1 when tied, else `depth`."""
        return 1 if self.tied else self.depth

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "GridLSTMCell needs a known feature dimension; received "
                f"input_shape={tuple(input_shape)}."
            )
        u = self.units
        self.projection = self.add_weight(
            name="projection",
            shape=(input_dim, u),
            initializer=self.projection_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.kernels, self.biases = [], []
        for b in range(self.blocks):
            suffix = "" if self.tied else f"_{b + 1}"
            self.kernels.append(
                self.add_weight(
                    name="kernel" + suffix,
                    shape=(2 * u, 2 * _GATES * u),
                    initializer=fresh_initializer(self.kernel_initializer),
                    regularizer=self.kernel_regularizer,
                )
            )
            self.biases.append(
                self.add_weight(
                    name="bias" + suffix, shape=(2 * _GATES * u,), initializer=self._bias_init
                )
            )

    def _bias_init(self, shape, dtype=None):
        # Per dimension [i, f, c, o]: the forget-gate quarter starts at 1 (or 0).
        u = self.units
        forget = 1.0 if self.unit_forget_bias else 0.0
        one_dimension = ops.concatenate(
            [ops.zeros((u,), dtype), ops.full((u,), forget, dtype), ops.zeros((2 * u,), dtype)]
        )
        return ops.concatenate([one_dimension, one_dimension])

    def macs_per_step(self) -> int:
        """Multiply-accumulates of one time step (for `kzoo.count_macs`): the projection plus
        `depth` block matmuls (a tied block is applied `depth` times)."""
        projection = self.projection.shape[0] * self.units
        return projection + self.depth * (2 * self.units) * (2 * _GATES * self.units)

    def call(self, inputs, states):
        u4 = _GATES * self.units
        h_depth = ops.matmul(inputs, self.projection)
        m_depth = ops.zeros_like(h_depth)
        new_states = []
        for d in range(self.depth):
            b = 0 if self.tied else d
            h_time, m_time = states[2 * d], states[2 * d + 1]
            z = ops.matmul(ops.concatenate([h_time, h_depth], axis=-1), self.kernels[b])
            z = z + self.biases[b]
            h_time, m_time = lstm_transform(z[:, :u4], m_time)
            h_depth, m_depth = lstm_transform(z[:, u4:], m_depth)
            new_states += [h_time, m_time]
        return h_depth, new_states

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)
                for _ in self.state_size]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "depth": self.depth,
                "tied": self.tied,
                "unit_forget_bias": self.unit_forget_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "projection_initializer": keras.initializers.serialize(
                    self.projection_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


_CELL_ARGS = (
    "units", "depth", "tied", "unit_forget_bias", "kernel_initializer", "projection_initializer",
    "kernel_regularizer",
)


@keras.saving.register_keras_serializable(package="kzoo")
class GridLSTM(keras.layers.RNN):
    """2-D Grid LSTM over sequences (time x depth): `keras.layers.RNN(GridLSTMCell(...))`.

    Takes (batch, time, features) and returns the top block's hidden vector at the last step
    (batch, units), or at every step with `return_sequences=True`. Built on Keras' RNN machinery,
    so masking (e.g. after `keras.layers.Masking`), `go_backwards`, `stateful`, `unroll`,
    `keras.layers.Bidirectional` and `tf.function` work as for `keras.layers.LSTM`; a masked step
    leaves every (h_time, m_time) pair unchanged.

    Args:
        units, depth, tied, unit_forget_bias, kernel_initializer, projection_initializer,
            kernel_regularizer: as in `GridLSTMCell`.
        return_sequences, return_state, go_backwards, stateful, unroll: as in
            `keras.layers.RNN` (`return_state` adds the 2 * depth state tensors).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:
        >>> layer = GridLSTM(32, depth=4, tied=False)
        >>> y = layer(keras.random.normal((8, 40, 1)))  # shape (8, 32)

    Reference:
        Kalchbrenner, Danihelka, Graves. "Grid Long Short-Term Memory." ICLR 2016
        (arXiv:1507.01526), Sections 2-3 and the tied 2-LSTM of Section 4.
    """

    def __init__(
        self,
        units,
        depth=2,
        tied=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        projection_initializer="glorot_uniform",
        kernel_regularizer=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        cell = GridLSTMCell(
            units,
            depth=depth,
            tied=tied,
            unit_forget_bias=unit_forget_bias,
            kernel_initializer=kernel_initializer,
            projection_initializer=projection_initializer,
            kernel_regularizer=kernel_regularizer,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="grid_lstm_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)

    def build(self, sequences_shape, initial_state_shape=None):
        if sequences_shape[-1] is None:
            raise ValueError(
                "GridLSTM needs a known feature dimension; received "
                f"input_shape={tuple(sequences_shape)}."
            )
        super().build(sequences_shape, initial_state_shape)

    def get_config(self):
        config = super().get_config()
        cell_config = config.pop("cell")["config"]
        config.pop("zero_output_for_mask", None)
        config.update({key: cell_config[key] for key in _CELL_ARGS})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
