"""Averaging the class probabilities of an ensemble's members."""

from __future__ import annotations

import math

import keras
from keras import ops

MODES = ("arithmetic", "geometric")


@keras.saving.register_keras_serializable(package="kzoo")
class ProbabilityAverage(keras.layers.Layer):
    """The ensemble's class probabilities from its members': input (batch, members, classes).

    "arithmetic": p = sum_k w_k p_k / sum_k w_k (the usual model ensemble: averaging the
    members' predictive distributions). "geometric": p proportional to prod_k p_k^(w_k / sum w),
    renormalised -- a softmax of the weighted mean log-probability, what weight scaling at test time
    approximates for dropout's sub-networks (Srivastava et al. 2014, sec. 4; Hinton et al. 2012).

    Args:
        mode: "arithmetic" or "geometric".
        member_weights: one positive weight per member, or None for equal weights.
        epsilon: log-probabilities are taken of max(p, epsilon) (geometric mode).

    Example:
        >>> average = ProbabilityAverage("geometric", member_weights=[2.0, 1.0])
        >>> p = average(keras.ops.stack([p_a, p_b], axis=1))  # (batch, classes)

    Reference:
        Hansen & Salamon, "Neural Network Ensembles", IEEE TPAMI 1990; Srivastava et al.,
        "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014.
    """

    def __init__(self, mode="arithmetic", member_weights=None, epsilon=1e-7, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}; received mode={mode!r}.")
        if member_weights is not None:
            member_weights = list(member_weights)
            if not member_weights or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                and w > 0 for w in member_weights
            ):
                raise ValueError(
                    "`member_weights` must be positive finite numbers, one per member; received "
                    f"member_weights={member_weights!r}."
                )
            member_weights = tuple(float(w) for w in member_weights)
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 < epsilon < 1:
            raise ValueError(f"`epsilon` must be in (0, 1); received epsilon={epsilon!r}.")
        self.mode = mode
        self.member_weights = member_weights
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "ProbabilityAverage takes (batch, members, classes); received input shape "
                f"{tuple(input_shape)}."
            )
        members = input_shape[1]
        if self.member_weights is not None and members is not None and members != len(
            self.member_weights
        ):
            raise ValueError(
                f"`member_weights` has {len(self.member_weights)} weights for {members} members."
            )
        super().build(input_shape)

    def call(self, inputs):
        # At least float32: a float16 product of many members' probabilities underflows.
        dtype = "float64" if self.compute_dtype == "float64" else "float32"
        probabilities = ops.cast(inputs, dtype)
        members = ops.shape(probabilities)[1]
        if self.member_weights is None:
            weights = ops.ones((members,), dtype)
        else:
            # Normalised in float64 first: finite weights such as 1e300 overflow float32.
            top = max(self.member_weights)
            scaled = [w / top for w in self.member_weights]
            weights = ops.convert_to_tensor([w / sum(scaled) for w in scaled], dtype)
        weights = ops.reshape(weights / ops.sum(weights), (1, -1, 1))
        if self.mode == "arithmetic":
            mean = ops.sum(probabilities * weights, axis=1)
        else:
            log_p = ops.log(ops.maximum(probabilities, self.epsilon))
            mean = ops.softmax(ops.sum(log_p * weights, axis=1), axis=-1)
        return ops.cast(mean, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        config = super().get_config()
        weights = None if self.member_weights is None else list(self.member_weights)
        config.update(mode=self.mode, member_weights=weights, epsilon=self.epsilon)
        return config
