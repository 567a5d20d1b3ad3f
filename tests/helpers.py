"""Helpers shared by kzoo's tests; `run_layer_test` is the contract every kzoo layer meets.

`run_layer_test` follows keras-hub's `TestCase.run_layer_test` and Keras' own: one call runs the
checks every layer must pass (config round trip, symbolic and eager calls, a training step, a safe
`.keras` round trip, float32 / mixed_bfloat16), so a layer's test file keeps only what is its own:
the NumPy reference of what it computes and the arguments it refuses. Every check calls the layer
eagerly on a tiny batch; nothing is traced or compiled: a contract costs ~0.5 s for a plain layer,
1-3 s for a composite block (most of it Keras creating variables).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.models.keras_files import load_keras, save_keras

# bfloat16 keeps 8 significant bits (relative rounding 2**-8 per operation); a few roundings
# through a block stay well inside this fraction of the output's largest magnitude.
BF16_TOLERANCE = 0.05
PRECISION_POLICIES = ("float32", "mixed_bfloat16")  # the first is the reference


# ---- processes ------------------------------------------------------------------------------------


def answer_ctrl_c() -> None:
    """`preexec_fn` for a child that must answer SIGINT as one started from a terminal does: a suite
    launched in the background (`cmd &` in a script) ignores SIGINT, and children inherit that."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ---- weights and parameter counts ---------------------------------------------------------------


def count_trainable(layer_or_model) -> int:
    """Trainable parameters, counted from the weight shapes (not from Keras' own count_params)."""
    return sum(int(np.prod(w.shape)) for w in layer_or_model.trainable_weights)


def random_weights(layer, rng, scale=1.0):
    """Give every weight of `layer` a random value and return them (NumPy, in `get_weights` order).

    Normal(0, scale) for all, except BatchNorm moving variances: uniform(0.5, 2), as a variance
    must be positive.
    """
    values = []
    for variable, current in zip(layer.weights, layer.get_weights(), strict=True):
        if variable.path.endswith("moving_variance"):
            values.append(rng.uniform(0.5, 2.0, current.shape).astype("float32"))
        else:
            values.append((scale * rng.normal(size=current.shape)).astype("float32"))
    layer.set_weights(values)
    return values


def dense_params(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


def conv_params(kernel, c_in, c_out, groups=1, bias=False):
    """A square `kernel` x `kernel` convolution (kzoo's convolutions have no bias by default)."""
    return kernel * kernel * (c_in // groups) * c_out + (c_out if bias else 0)


def bn_params(channels):
    return 2 * channels  # gamma and beta; the moving statistics are not trainable


def se_params(channels, ratio):
    """Hu et al. 2018: Dense(C -> C/r) and Dense(C/r -> C) with biases, at least one unit."""
    hidden = max(1, channels // ratio)
    return dense_params(channels, hidden) + dense_params(hidden, channels)


def sublayers(layer):
    """Every layer nested in `layer` (attributes, lists and dicts of them), depth first."""
    found = []

    def visit(value):
        if isinstance(value, keras.layers.Layer):
            found.append(value)
            for child in vars(value).values():
                visit(child)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for child in vars(layer).values():
        visit(child)
    return found


def json_form(config):
    """A config as it reads back from JSON (tuples become lists), for comparing two configs."""
    return json.loads(json.dumps(config))


def _numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


def _scalar_kwargs(init_kwargs):
    return {
        k: v for k, v in init_kwargs.items()
        if k != "dtype" and (v is None or isinstance(v, (bool, int, float, str)))
    }


# ---- the checks ---------------------------------------------------------------------------------


def check_config_round_trip(layer_cls, init_kwargs):
    """`from_config(get_config())` and a JSON serialisation both give the same config back, and
    the config holds every plain argument as it was passed."""
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in _scalar_kwargs(init_kwargs).items():
        stored = config.get(key)
        if stored is None or isinstance(stored, (bool, int, float, str)):
            assert stored == value, f"get_config()[{key!r}] is {stored!r}; passed {value!r}"
    assert layer_cls.from_config(config).get_config() == config
    text = json.dumps(keras.saving.serialize_keras_object(layer))
    revived = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(revived) is layer_cls
    assert json_form(revived.get_config()) == json_form(config)


def check_training_step(layer, x, call_kwargs):
    """Every trainable weight (and the input) gets a finite, non-zero gradient, and a gradient
    step lowers a loss. The non-trainable state (BatchNorm statistics, dropout seeds) is put back
    before each evaluation, so both losses see the same batch statistics and dropout masks."""
    rng = np.random.default_rng(1)
    x = tf.constant(x)
    state = [keras.ops.copy(v.value) for v in layer.non_trainable_variables]
    weights = list(layer.trainable_variables)
    start = [keras.ops.copy(v.value) for v in weights]

    def loss_and_grads(target):
        for variable, value in zip(layer.non_trainable_variables, state, strict=True):
            variable.assign(value)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = keras.ops.cast(layer(x, training=True, **call_kwargs), "float32")
            if target is None:
                target = rng.normal(size=y.shape).astype("float32")
            loss = keras.ops.mean(keras.ops.square(y - target))
        return float(loss), tape.gradient(loss, [x, *weights]), target

    before, grads, target = loss_and_grads(None)
    names = ["input", *(w.path for w in weights)]
    for name, grad in zip(names, grads, strict=True):
        assert grad is not None, f"no gradient reaches {name}"
        grad = keras.ops.convert_to_numpy(grad)
        assert np.isfinite(grad).all(), f"non-finite gradient for {name}"
        assert np.any(grad != 0), f"zero gradient for {name}"
    if not weights:
        return
    # Descent along the gradient lowers the loss for a small enough step; try three step sizes.
    afters = []
    for lr in (1e-2, 1e-3, 1e-4):
        for variable, value, grad in zip(weights, start, grads[1:], strict=True):
            variable.assign(value - lr * grad)
        afters.append(loss_and_grads(target)[0])
        if afters[-1] < before:
            break
    for variable, value in zip(weights, start, strict=True):
        variable.assign(value)
    assert afters[-1] < before, f"no gradient step lowered the loss {before}: {afters}"


def check_keras_file_round_trip(layer_cls, init_kwargs, x, call_kwargs, atol):
    """A model holding the layer saves to `.keras` and loads through kzoo's safe loader (no
    custom_objects): same class, same weights, same outputs."""
    inputs = keras.Input(tuple(x.shape[1:]))
    layer = layer_cls(**init_kwargs)
    model = keras.Model(inputs, layer(inputs, **call_kwargs))
    random_weights(layer, np.random.default_rng(2), scale=0.5)
    expected = _numpy(model(x, training=False))
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_keras(save_keras(model, Path(tmp) / "layer.keras"))
    restored = loaded.layers[-1]
    assert type(restored) is layer_cls
    assert restored.get_config() == layer.get_config()
    for saved, back in zip(layer.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(back, saved)
    np.testing.assert_allclose(_numpy(loaded(x, training=False)), expected, atol=atol)


def check_precision(layer_cls, init_kwargs, x, call_kwargs, bf16_tolerance):
    """Under each dtype policy the layer (and every layer inside it) computes in the policy's
    dtype with float32 weights; mixed_bfloat16 matches float32 within `bf16_tolerance` of the
    output's scale."""
    weights = expected = None
    for name in PRECISION_POLICIES:
        policy = keras.dtype_policies.get(name)
        layer = layer_cls(**{**init_kwargs, "dtype": name})
        symbolic = layer(keras.KerasTensor(tuple(x.shape)), **call_kwargs)
        assert keras.backend.standardize_dtype(symbolic.dtype) == policy.compute_dtype
        if weights is None:
            weights = random_weights(layer, np.random.default_rng(3), scale=0.5)
        else:
            layer.set_weights(weights)
        y = layer(x, training=False, **call_kwargs)
        assert keras.backend.standardize_dtype(y.dtype) == policy.compute_dtype, (name, y.dtype)
        assert {keras.backend.standardize_dtype(w.dtype) for w in layer.weights} <= {"float32"}
        inner = {s.name: s.dtype_policy.name for s in sublayers(layer)}
        assert all(p == name for p in inner.values()), f"sub-layers ignore {name}: {inner}"
        if expected is None:
            expected = _numpy(y)
            continue
        error = np.max(np.abs(_numpy(y) - expected))
        assert error <= bf16_tolerance * np.max(np.abs(expected)), (name, error)


def check_kernel_regularizer(layer_cls, init_kwargs, input_shape, num_kernels, l2=0.01):
    """`kernel_regularizer` reaches every kernel: one loss per kernel, together
    l2 * sum(kernel ** 2), and the same after a config round trip."""
    x = np.random.default_rng(0).normal(size=input_shape).astype("float32")
    regularizer = {"class_name": "L2", "config": {"l2": l2}}
    layer = layer_cls(**init_kwargs, kernel_regularizer=regularizer)
    layer(x)
    random_weights(layer, np.random.default_rng(4))
    kernels = [w for w in layer.trainable_weights if w.path.endswith("kernel")]
    assert len(kernels) == num_kernels, [w.path for w in layer.trainable_weights]
    expected = l2 * sum(float(np.sum(np.square(keras.ops.convert_to_numpy(k)))) for k in kernels)
    assert len(layer.losses) == num_kernels
    np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-5)
    clone = layer_cls.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(float(sum(clone.losses)), expected, rtol=1e-5)


def run_layer_test(
    layer_cls,
    init_kwargs,
    *,
    input_shape=None,
    input_data=None,
    expected_output_shape,
    expected_num_trainable_weights,
    expected_num_non_trainable_weights=0,
    expected_num_losses=0,
    call_kwargs=None,
    run_training_check=True,
    run_keras_file_check=True,
    run_precision_check=True,
    atol=1e-5,
    bf16_tolerance=BF16_TOLERANCE,
):
    """Run the checks every kzoo layer must pass.

    Args:
        layer_cls: the layer class.
        init_kwargs: arguments for `layer_cls(**init_kwargs)`.
        input_shape: shape of a random float32 input batch (or pass `input_data`).
        input_data: the input batch.
        expected_output_shape: output shape for that batch, batch dimension included.
        expected_num_trainable_weights: number of trainable weight tensors once built.
        expected_num_non_trainable_weights: number of non-trainable weight tensors once built.
        expected_num_losses: regularisation losses after one call.
        call_kwargs: extra arguments for every call.
        run_training_check: gradients and a loss-lowering step (`check_training_step`).
        run_keras_file_check: `.keras` save and safe load (`check_keras_file_round_trip`).
        run_precision_check: float32 / mixed_bfloat16 sweep (`check_precision`).
        atol: tolerance of the float32 comparisons.
        bf16_tolerance: tolerance of mixed_bfloat16 vs float32, a fraction of max |output|.

    Example:
        >>> run_layer_test(Highway, {"units": 6}, input_shape=(2, 6),
        ...                expected_output_shape=(2, 6), expected_num_trainable_weights=2)
    """
    if (input_shape is None) == (input_data is None):
        raise ValueError("Pass exactly one of input_shape and input_data.")
    call_kwargs = dict(call_kwargs or {})
    if input_data is None:
        input_data = np.random.default_rng(0).normal(size=input_shape).astype("float32")
    x = np.asarray(input_data, "float32")
    shape = tuple(x.shape)
    expected_output_shape = tuple(expected_output_shape)

    def check_built(layer):
        assert layer.built
        assert len(layer.trainable_weights) == expected_num_trainable_weights, [
            w.path for w in layer.trainable_weights
        ]
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, [
            w.path for w in layer.non_trainable_weights
        ]

    check_config_round_trip(layer_cls, init_kwargs)

    layer = layer_cls(**init_kwargs)
    layer.build(shape)
    check_built(layer)
    assert tuple(layer.compute_output_shape(shape)) == expected_output_shape

    # Symbolic calls: with this batch size, and with an unknown one.
    layer = layer_cls(**init_kwargs)
    assert tuple(layer(keras.KerasTensor(shape), **call_kwargs).shape) == expected_output_shape
    check_built(layer)
    unknown = layer(keras.KerasTensor((None, *shape[1:])), **call_kwargs)
    assert tuple(unknown.shape) == (None, *expected_output_shape[1:])

    # Eager calls, inference and training mode.
    layer = layer_cls(**init_kwargs)
    for training in (False, True):
        y = layer(x, training=training, **call_kwargs)
        assert tuple(y.shape) == expected_output_shape
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
        assert np.isfinite(keras.ops.convert_to_numpy(y)).all()
    check_built(layer)
    assert len(layer.losses) == expected_num_losses

    if run_training_check:
        check_training_step(layer, x, call_kwargs)
    if run_keras_file_check:
        check_keras_file_round_trip(layer_cls, init_kwargs, x, call_kwargs, atol)
    if run_precision_check:
        check_precision(layer_cls, init_kwargs, x, call_kwargs, bf16_tolerance)
