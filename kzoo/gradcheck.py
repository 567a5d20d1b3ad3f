"""Gradient checking: the tape's gradients against centred finite differences, in float64.

`kzoo.gradcheck(layer_or_model, x)` clones the layer or model in float64 (same architecture, same
weights), defines a scalar objective -- a fixed random projection of the outputs, or a loss when
labels are given -- and compares, for the inputs and every trainable weight, the gradient
TensorFlow's tape computes with the centred difference (f(w + eps) - f(w - eps)) / (2 eps).

The lecture's rule (CS231n): relative error |a - n| / max(|a|, |n|) of at most 1e-7 is fine, 1e-4
or more means the gradient is suspicious -- unless the objective has kinks (ReLU, max pooling,
maxout): when a perturbation crosses a kink the finite difference averages two slopes and the error
rises for a correct gradient. Such coordinates are recognised and reported as kinks, not as
failures: across a kink the one-sided differences (f(w + eps) - f(w)) / eps and
(f(w) - f(w - eps)) / eps disagree by at least as much as the centred one misses the tape's.

`kzoo.gradcheck` is this module, callable: `kzoo.gradcheck(...)` and
`kzoo.gradcheck.gradcheck(...)` are the same function.
"""

from __future__ import annotations

import sys
import types
from dataclasses import asdict, dataclass, field

import numpy as np

FINE = 1e-7
SUSPICIOUS = 1e-4
_FLOAT_POLICIES = (
    "float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16",
)


@dataclass
class TensorCheck:
    """The check of one tensor: `name`, `shape`, how many coordinates were `checked` (of `size`),
    the largest and median relative error over the smooth ones, how many crossed a `kink` (and
    their largest error) and the `verdict`: "fine" (<= 1e-7), "check" or "suspicious" (>= 1e-4)."""

    name: str
    shape: tuple
    size: int
    checked: int
    max_error: float
    median_error: float
    kinks: int
    kink_max_error: float
    worst_index: tuple | None
    verdict: str


@dataclass
class GradcheckReport:
    """Per-tensor results of `gradcheck`; `passed` when no tensor is suspicious."""

    tensors: list[TensorCheck]
    eps: float
    objective: float
    floor: float
    training: bool
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(t.verdict != "suspicious" for t in self.tensors)

    @property
    def max_error(self) -> float:
        return max((t.max_error for t in self.tensors), default=0.0)

    @property
    def kinks(self) -> int:
        return sum(t.kinks for t in self.tensors)

    def __getitem__(self, name) -> TensorCheck:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no checked tensor named {name!r}; checked: "
                       f"{', '.join(t.name for t in self.tensors)}")

    def to_dict(self) -> dict:
        return {"passed": self.passed, "max_error": self.max_error, "eps": self.eps,
                "floor": self.floor, "training": self.training, "notes": list(self.notes),
                "tensors": [asdict(t) for t in self.tensors]}

    def table(self) -> str:
        """A plain-text table, one line per tensor."""
        width = max([len(t.name) for t in self.tensors] + [6])
        lines = [f"{'tensor':<{width}}  {'checked':>11}  {'max rel err':>11}  {'kinks':>5}  verdict"]
        for t in self.tensors:
            lines.append(f"{t.name:<{width}}  {t.checked:>5}/{t.size:<5}  {t.max_error:11.2e}  "
                         f"{t.kinks:>5}  {t.verdict}")
        return "\n".join(lines)


def gradcheck(
    model_or_layer,
    x,
    y=None,
    *,
    eps=1e-5,
    params=None,
    loss=None,
    training=False,
    max_coords=24,
    floor=None,
    seed=0,
) -> GradcheckReport:
    """Check a layer's or model's gradients against centred finite differences in float64.

    Args:
        model_or_layer: a Keras layer or model (built or not). It is cloned in float64 from its
            config and weights, so it must round-trip through `get_config` / `from_config`; a
            layer or model that already computes in float64 is used as it is. The original's
            weights are never changed (an unbuilt one is built on `x` first).
        x: a batch of inputs (NumPy array or tensor).
        y: optional targets: the objective is then `loss(y, outputs)`; without them it is
            sum(R * outputs) for a fixed standard-normal R, so every output counts.
        eps: the finite-difference step.
        params: names of the tensors to check: "inputs" and weight paths or names (e.g.
            "kernel", "highway/bias"); None checks the inputs and every trainable weight.
        loss: a Keras loss (name or callable) for `y`; default sparse categorical cross-entropy
            for integer targets, mean squared error otherwise.
        training: the `training` flag of the calls (batch statistics for batch norm; dropout
            would make the objective random, so keep it False for layers with dropout).
        max_coords: coordinates checked per tensor; larger tensors are sampled (seeded, without
            replacement).
        floor: the smallest denominator of the relative error, so that a gradient near zero is
            not judged by rounding noise alone; default: the finite difference's rounding noise
            (machine epsilon * max(1, sum |R * outputs|) / eps) divided by 1e-7, i.e. noise
            alone never reads worse than "fine".
        seed: seed of R and of the sampled coordinates.

    Returns:
        A `GradcheckReport`: per tensor the relative errors, kinks and a verdict; `passed`.

    Example:
        >>> report = kzoo.gradcheck(kzoo.layers.Highway(8, activation="tanh"),
        ...                         np.random.normal(size=(4, 8)))
        >>> report.passed, report.max_error < 1e-7
        (True, True)
        >>> print(report.table())

    Reference:
        CS231n, "Neural Networks Part 3: Learning and Evaluation", gradient checks (centred
        formula, relative error, float64, kinks).
    """
    import tensorflow as tf

    eps = _check_positive("eps", eps)
    max_coords = int(_check_positive("max_coords", max_coords))
    if not isinstance(training, bool):
        raise ValueError(f"`training` must be True or False; received training={training!r}.")
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=np.float64)
    target = _float64_clone(model_or_layer, x)
    inputs = tf.Variable(x, dtype=tf.float64, name="inputs")
    outputs = _flat_outputs(target(inputs, training=training))
    objective, scale_of = _objective(outputs, y, loss, rng)

    @tf.function(autograph=False, reduce_retracing=True)
    def evaluate():
        return objective(_flat_outputs(target(inputs, training=training)))

    with tf.GradientTape() as tape:
        value = objective(_flat_outputs(target(inputs, training=training)))
    names = [_name(w) for w in model_or_layer.trainable_weights]  # the caller's names
    if len(names) != len(target.trainable_weights):
        names = [_name(w) for w in target.trainable_weights]
    tensors = [("inputs", inputs)] + list(zip(names, target.trainable_weights, strict=True))
    tensors = _select(tensors, params)
    grads = tape.gradient(value, [t for _, t in tensors], unconnected_gradients="zero")
    f0 = float(evaluate())
    scale = max(1.0, float(scale_of(_flat_outputs(target(inputs, training=training)))))
    if floor is None:
        floor = np.finfo(np.float64).eps * scale / eps / FINE
    checks = []
    for (name, variable), grad in zip(tensors, grads, strict=True):
        checks.append(_check_tensor(name, variable, np.asarray(grad, np.float64), evaluate, f0,
                                    eps, floor, max_coords, rng))
    notes = []
    if any(t.kinks for t in checks):
        notes.append("kinks: perturbations crossed a non-differentiable point (ReLU, max); "
                     "those coordinates are left out of max_error")
    return GradcheckReport(checks, float(eps), f0, float(floor), training, notes)


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number; received {name}={value!r}.")
    return value


def _name(weight) -> str:
    return getattr(weight, "path", None) or weight.name


def _select(tensors, params):
    if params is None:
        return tensors
    if isinstance(params, str):
        params = [params]
    chosen, unknown = [], []
    for wanted in params:
        hits = [t for t in tensors if t[0] == wanted or t[0].endswith("/" + wanted)]
        if not hits:
            unknown.append(wanted)
        chosen += [t for t in hits if t not in chosen]
    if unknown:
        raise ValueError(f"`params` names no checked tensor: {unknown}; the tensors are "
                         f"{[name for name, _ in tensors]}.")
    return chosen


def _flat_outputs(outputs):
    import keras

    return keras.tree.flatten(outputs)


def _objective(outputs, y, loss, rng):
    """The scalar objective of the flattened outputs, and the scale of its terms."""
    import keras
    import tensorflow as tf

    if y is None:
        projections = [tf.constant(rng.standard_normal(tuple(o.shape)), tf.float64)
                       for o in outputs]

        def objective(outs):
            return tf.add_n([tf.reduce_sum(r * o) for r, o in zip(projections, outs, strict=True)])

        def scale(outs):
            return tf.add_n([tf.reduce_sum(tf.abs(r * o))
                             for r, o in zip(projections, outs, strict=True)])

        return objective, scale
    y = np.asarray(y)
    if loss is None:
        loss = ("sparse_categorical_crossentropy" if y.dtype.kind in "iu"
                else "mean_squared_error")
    loss_fn = keras.losses.get(loss)
    y_tensor = tf.constant(y if y.dtype.kind in "iu" else y.astype(np.float64))

    def objective(outs):
        return tf.reduce_mean(tf.cast(loss_fn(y_tensor, outs[0]), tf.float64))

    return objective, lambda outs: tf.abs(objective(outs))


def _check_tensor(name, variable, grad, evaluate, f0, eps, floor, max_coords, rng):
    shape = tuple(variable.shape)
    size = int(np.prod(shape)) if shape else 1
    coords = np.arange(size) if size <= max_coords else rng.choice(size, max_coords, replace=False)
    original = np.asarray(variable.numpy(), np.float64).copy()
    flat = original.reshape(-1)
    errors, kink_errors, worst = [], [], (-1.0, None)
    for c in np.sort(coords):
        probe = flat.copy()
        probe[c] = flat[c] + eps
        variable.assign(probe.reshape(shape))
        f_plus = float(evaluate())
        probe[c] = flat[c] - eps
        variable.assign(probe.reshape(shape))
        f_minus = float(evaluate())
        a, n = float(grad.reshape(-1)[c]), (f_plus - f_minus) / (2 * eps)
        forward, backward = (f_plus - f0) / eps, (f0 - f_minus) / eps
        diff = abs(a - n)
        error = diff / max(abs(a), abs(n), floor)
        one_sided = abs(forward - backward)
        kink = error > FINE and one_sided >= diff and one_sided > 1e-3 * max(
            abs(forward), abs(backward))
        (kink_errors if kink else errors).append(error)
        if not kink and error > worst[0]:
            worst = (error, tuple(int(i) for i in np.unravel_index(c, shape)) if shape else ())
    variable.assign(original)
    max_error = max(errors, default=0.0)
    verdict = "fine" if max_error <= FINE else "suspicious" if max_error >= SUSPICIOUS else "check"
    return TensorCheck(
        name=name, shape=shape, size=size, checked=len(coords), max_error=float(max_error),
        median_error=float(np.median(errors)) if errors else 0.0, kinks=len(kink_errors),
        kink_max_error=float(max(kink_errors, default=0.0)), worst_index=worst[1],
        verdict=verdict,
    )


def _float64_clone(obj, x):
    """`obj` rebuilt in float64 with its weights (or `obj` itself if it already is float64)."""
    import keras

    if not isinstance(obj, keras.layers.Layer):
        raise ValueError(
            f"`model_or_layer` must be a Keras layer or model; received {type(obj).__name__}."
        )
    if not obj.built:
        obj(keras.ops.convert_to_tensor(x, obj.compute_dtype))
    if obj.compute_dtype == "float64" and all(w.dtype == "float64" for w in obj.weights):
        return obj
    try:
        clone = obj.__class__.from_config(_as_float64(obj.get_config()))
    except Exception as err:
        raise ValueError(
            f"gradcheck clones {obj.name!r} ({type(obj).__name__}) in float64 from its config "
            f"and could not ({type(err).__name__}: {err}); pass a layer or model built with "
            "dtype='float64' instead."
        ) from err
    if not clone.built:
        clone(keras.ops.convert_to_tensor(x, "float64"))
    clone.set_weights([np.asarray(w, np.float64) for w in obj.get_weights()])
    return clone


def _as_float64(config):
    """A copy of a Keras config with every floating dtype or dtype policy set to float64."""
    if isinstance(config, list):
        return [_as_float64(item) for item in config]
    if not isinstance(config, dict):
        return config
    out = {}
    for key, value in config.items():
        if key == "dtype" and _is_float_dtype(value):
            out[key] = "float64"
        else:
            out[key] = _as_float64(value)
    return out


def _is_float_dtype(value) -> bool:
    if isinstance(value, str):
        return value in _FLOAT_POLICIES
    if isinstance(value, dict) and "DTypePolicy" in str(value.get("class_name", "")):
        return str(value.get("config", {}).get("name")) in _FLOAT_POLICIES
    return False


class _CallableModule(types.ModuleType):
    # `kzoo.gradcheck` names both this module and its function: importing the module (as
    # `from kzoo.gradcheck import ...` does) rebinds the package attribute to the module, so the
    # module itself is made callable and `kzoo.gradcheck(...)` works either way.
    def __call__(self, *args, **kwargs):
        return gradcheck(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
