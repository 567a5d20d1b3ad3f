"""`Bidirectional`: Keras' wrapper, saved so that it reloads with the same weight paths."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kzoo")
class Bidirectional(keras.layers.Bidirectional):
    """`keras.layers.Bidirectional` with the same arguments and results, reloadable path for path.

    Keras saves the wrapped layers' configs with their build configs, so loading builds them
    while they are deserialised, outside the wrapper's name scope: the reloaded variables are
    named `forward_gru/...` instead of `bi/forward_gru/...`. This wrapper leaves the build configs
    out, so the wrapper builds both layers inside its scope, as when the model was made.

    Args:
        layer: a recurrent layer (`keras.layers.LSTM`, `GRU`, `kzoo.layers.GridLSTM`, ...).
        **kwargs: `keras.layers.Bidirectional` arguments (`merge_mode`, `backward_layer`, ...).

    Example:
        >>> bi = Bidirectional(keras.layers.GRU(6, return_sequences=True), name="bi_rnn_1")
        >>> y = bi(keras.random.normal((2, 40, 1)))  # shape (2, 40, 12)

    Reference:
        Schuster, Paliwal. "Bidirectional Recurrent Neural Networks." IEEE Transactions on Signal
        Processing 1997.
    """

    def get_config(self):
        config = super().get_config()
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                config[key].pop("build_config", None)
        return config
