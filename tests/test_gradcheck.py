"""kzoo.gradcheck: every kzoo layer passes; a wrong gradient is caught; kinks are told apart."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
import kzoo.layers as L
from kzoo.gradcheck import FINE, SUSPICIOUS, gradcheck

# Every layer class kzoo.layers exports: a small instance, an input shape and the training flags
# to check it with (True: batch norm on batch statistics, where its real gradient lives).
CASES = {
    "Highway": (lambda: L.Highway(6, activation="tanh"), (4, 6), (False,)),
    "Maxout": (lambda: L.Maxout(4, 3), (4, 5), (False,)),
    "ChannelMaxout": (lambda: L.ChannelMaxout(2), (3, 4, 6), (False,)),
    "WeightNormDense": (lambda: L.WeightNormDense(5, activation="tanh"), (4, 6), (False,)),
    "WeightNormConv1D": (lambda: L.WeightNormConv1D(3, 3, padding="same"), (2, 7, 2), (False,)),
    "WeightNormConv2D": (lambda: L.WeightNormConv2D(3, 3, strides=2), (2, 7, 7, 2), (False,)),
    "SqueezeExcite": (lambda: L.SqueezeExcite(2), (2, 4, 4, 6), (False,)),
    "DenseBlock": (lambda: L.DenseBlock(2, 3, bottleneck=True), (2, 5, 5, 4), (True, False)),
    "TransitionBlock": (lambda: L.TransitionBlock(0.5), (2, 6, 6, 6), (True,)),
    "BasicBlock": (lambda: L.BasicBlock(4, stride=2, shortcut="B"), (2, 6, 6, 3), (True, False)),
    "BottleneckBlock": (lambda: L.BottleneckBlock(2, preact=True, se_ratio=2), (2, 5, 5, 8),
                        (True,)),
    "FusedBatchNormalization": (lambda: L.FusedBatchNormalization(), (4, 3, 3, 2), (True, False)),
    "GridLSTM": (lambda: L.GridLSTM(3, depth=2, tied=False), (2, 5, 2), (False,)),
    "GridLSTMCell": (lambda: keras.layers.RNN(L.GridLSTMCell(3, depth=2), return_sequences=True),
                     (2, 4, 2), (False,)),
    "Bidirectional": (lambda: L.Bidirectional(L.GridLSTM(2, depth=2)), (2, 4, 3), (False,)),
    "GroupedConv2D": (lambda: L.GroupedConv2D(4, 3, groups=2, padding="same"), (2, 5, 5, 4),
                      (False,)),
    "ResNeXtBlock": (lambda: L.ResNeXtBlock(4, out_channels=6, groups=2), (2, 5, 5, 4), (True,)),
    "DepthwiseSeparableBlock": (lambda: L.DepthwiseSeparableBlock(4), (2, 5, 5, 3), (True,)),
    "InvertedResidual": (lambda: L.InvertedResidual(4, expansion=2), (2, 5, 5, 4), (True,)),
    "MBConv": (lambda: L.MBConv(4, expansion=2), (2, 5, 5, 4), (True,)),
    # Members' probabilities (a softmax of the random inputs), geometric mean with weights.
    "ProbabilityAverage": (lambda: keras.Sequential([
        keras.layers.Softmax(), L.ProbabilityAverage("geometric", member_weights=[2.0, 1.0, 1.0])
    ]), (2, 3, 4), (False,)),
    # Training drops whole examples at random; at inference it is the identity, checked here.
    "StochasticDepth": (lambda: L.StochasticDepth(0.5), (3, 4), (False,)),
}


# Over ~2 s each on 2 busy cores (two training flags, or a recurrent loop both ways): CI's slow run.
SLOW = {"Bidirectional", "BasicBlock", "DenseBlock", "BottleneckBlock", "GridLSTM"}


def exported_layer_classes():
    return {
        name for name in L.__all__
        if inspect.isclass(getattr(L, name)) and issubclass(getattr(L, name), keras.layers.Layer)
    }


def test_every_exported_layer_has_a_gradcheck_case():
    assert exported_layer_classes() == set(CASES)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(CASES)]
)
def test_every_kzoo_layer_passes(name):
    factory, shape, flags = CASES[name]
    x = np.random.default_rng(0).normal(size=shape)
    for training in flags:
        layer = factory()
        report = gradcheck(layer, x, training=training, max_coords=12)
        assert report.passed, report.table()
        assert report.max_error < 1e-6, report.table()
        # The inputs and every trainable weight were checked.
        names = [t.name for t in report.tensors]
        assert names == ["inputs"] + [w.path for w in layer.trainable_weights]
        assert all(t.checked == min(12, t.size) for t in report.tensors)


class BuggySoftplus(keras.layers.Layer):
    """softplus(scale * x) with a hand-written gradient: sigmoid(z), or with the bug half of it."""

    def __init__(self, bug=True, **kwargs):
        super().__init__(**kwargs)
        self.bug = bug

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, inputs):
        bug = self.bug

        @tf.custom_gradient
        def softplus(z):
            def grad(upstream):
                slope = tf.sigmoid(z)
                return upstream * (0.5 * slope if bug else slope)

            return tf.math.softplus(z), grad

        return softplus(inputs * self.scale)


def test_a_wrong_custom_gradient_is_suspicious_and_the_right_one_fine(rng):
    x = rng.normal(size=(4, 3))
    wrong = gradcheck(BuggySoftplus(bug=True, dtype="float64"), x)
    assert not wrong.passed
    assert wrong["inputs"].verdict == "suspicious" and wrong["inputs"].max_error > 0.3
    assert wrong["buggy_softplus/scale"].max_error > 0.3
    assert wrong.kinks == 0  # a smooth function: the error is the gradient's, not a kink's
    right = gradcheck(BuggySoftplus(bug=False, dtype="float64"), x)
    assert right.passed and right.max_error <= FINE


def test_relu_kinks_are_flagged_not_failed():
    # Inputs within eps of ReLU's kink: the centred difference straddles it.
    x = np.array([[3e-6, -4e-6, 0.5, -0.7, 2e-6, 1.5]])
    layer = keras.layers.ReLU(dtype="float64")
    report = gradcheck(layer, x, eps=1e-5)
    inputs = report["inputs"]
    assert inputs.kinks == 3 and inputs.kink_max_error > SUSPICIOUS
    assert inputs.max_error <= FINE and report.passed
    assert report.notes and "kinks" in report.notes[0]
    # A smaller step no longer crosses the kinks.
    assert gradcheck(layer, x, eps=1e-7)["inputs"].kinks == 0


def test_float64_clone_leaves_the_original_alone(rng):
    layer = L.Highway(4)
    x = rng.normal(size=(3, 4))
    layer(x.astype("float32"))
    before = [w.copy() for w in layer.get_weights()]
    report = gradcheck(layer, x)
    assert report.passed
    assert layer.compute_dtype == "float32"
    for a, b in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_models_labels_and_parameter_selection(rng):
    model = kzoo.create_model("plain_mlp", depth=2, width=5, activation="tanh",
                              input_shape=(6,), classes=3)
    x = rng.normal(size=(8, 6))
    y = rng.integers(0, 3, size=8)
    report = gradcheck(model, x, y, params=["inputs", "dense_2/kernel", "predictions/bias"])
    assert [t.name for t in report.tensors] == ["inputs", "dense_2/kernel", "predictions/bias"]
    assert report.passed and report.max_error < 1e-6
    assert report.objective == pytest.approx(
        float(keras.losses.sparse_categorical_crossentropy(y, model(x)).numpy().mean()), rel=1e-4)
    with pytest.raises(ValueError, match="`params` names no checked tensor"):
        gradcheck(model, x, params=["no_such_weight"])


def test_kzoo_gradcheck_is_callable_as_module_and_function(rng):
    import kzoo.gradcheck as module

    x = rng.normal(size=(2, 3))
    assert callable(kzoo.gradcheck) and module.gradcheck is gradcheck
    assert kzoo.gradcheck(L.Maxout(2, 2), x).passed
    text = kzoo.gradcheck(L.Maxout(2, 2), x).table()
    assert "maxout" in text and "fine" in text


@pytest.mark.parametrize(
    "kwargs, message",
    [({"eps": 0}, "`eps` must be a positive number"),
     ({"training": 1}, "`training` must be True or False")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gradcheck(L.Maxout(2, 2), np.ones((1, 3)), **kwargs)
    with pytest.raises(ValueError, match="must be a Keras layer or model"):
        gradcheck(lambda t: t, np.ones((1, 3)))
