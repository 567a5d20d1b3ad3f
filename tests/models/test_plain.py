import keras
import numpy as np
import pytest

from kzoo.counting import count_macs
from kzoo.models.plain import hidden_layer_names, plain_net
from kzoo.models.snn import self_normalization_report
from kzoo.registry import get_entry
from tests.helpers import count_trainable as trainable
from tests.helpers import dense_params as dense

deep_plain_mlp = get_entry("deep_plain_mlp").builder
highway_mlp = get_entry("highway_mlp").builder
maxout_mlp = get_entry("maxout_mlp").builder
plain_cnn = get_entry("plain_cnn").builder
plain_mlp = get_entry("plain_mlp").builder
residual_mlp = get_entry("residual_mlp").builder


# ---- parameter counts of the registered variants, from their definitions -------------------------


def test_residual_mlp_params_and_identity_shortcuts(rng):
    model = residual_mlp(classes=10)
    expected = dense(784, 256) + 8 * dense(256, 256) + dense(256, 10)
    assert trainable(model) == expected == 729_866
    small = residual_mlp(depth=3, width=16, input_shape=(5,), classes=2)
    names = ["proj_act", "act_1", "add_1", "act_2", "add_2", "act_3", "add_3"]
    probe = keras.Model(small.inputs, [small.get_layer(n).output for n in names])
    x = rng.normal(size=(4, 5)).astype("float32")
    outs = {n: keras.ops.convert_to_numpy(o) for n, o in zip(names, probe([x]), strict=True)}
    previous = outs["proj_act"]
    for i in (1, 2, 3):  # each unit adds its branch to its input
        np.testing.assert_allclose(outs[f"add_{i}"], previous + outs[f"act_{i}"], atol=1e-5)
        previous = outs[f"add_{i}"]


def test_plain_mlp_params():
    expected = dense(784, 256) + 2 * dense(256, 256) + dense(256, 10)
    assert trainable(plain_mlp(classes=10)) == expected == 335_114


def test_deep_plain_mlp_params_match_highway_mlp_roughly():
    plain = deep_plain_mlp(classes=10)
    highway = highway_mlp(classes=10)
    assert trainable(plain) == dense(784, 71) + 19 * dense(71, 71) + dense(71, 10)
    # Highway: projection, then 20 layers with one (50, 100) kernel and a (100,) bias each.
    assert trainable(highway) == dense(784, 50) + 20 * dense(50, 100) + dense(50, 10)
    assert abs(trainable(plain) / trainable(highway) - 1) < 0.1


def test_maxout_mlp_is_the_papers_mnist_network():
    model = maxout_mlp(classes=10)
    assert trainable(model) == dense(784, 240 * 5) + dense(240, 240 * 5) + dense(240, 10)
    assert [type(model.get_layer(f"maxout_{i}")).__name__ for i in (1, 2)] == ["Maxout"] * 2
    assert model.get_layer("input_dropout").rate == pytest.approx(0.2)
    assert model.get_layer("dropout_2").rate == pytest.approx(0.5)


def test_plain_cnn_is_resnet20_without_shortcuts():
    # ResNet-20 with zero-padding shortcuts has 269,722 trainable parameters; its shortcuts have
    # none, so plain-20 must have exactly as many.
    model = plain_cnn(classes=10)
    assert trainable(model) == 269_722
    convs = [layer for layer in model.layers if layer.name.startswith("conv_")]
    assert len(convs) == 19
    assert [c.filters for c in convs] == [16] * 7 + [32] * 6 + [64] * 6
    assert [c.strides[0] for c in convs].count(2) == 2
    assert not any(c.use_bias for c in convs)
    assert model.get_layer("act_19").output.shape == (None, 8, 8, 64)


# ---- structure and names --------------------------------------------------------------------------


def test_layer_names_and_order():
    model = plain_net("mlp", depth=3, width=8, norm="batch", dropout=0.1, input_shape=(5,), classes=2)
    names = [layer.name for layer in model.layers]
    block = ["dense_{i}", "norm_{i}", "act_{i}", "dropout_{i}"]
    expected = ["input"] + [n.format(i=i) for i in (1, 2, 3) for n in block] + ["predictions"]
    assert names == expected
    assert hidden_layer_names(model) == ["act_1", "act_2", "act_3"]
    assert not model.get_layer("dense_1").use_bias  # BatchNorm's beta replaces the bias


def test_mlp_flattens_images():
    model = plain_net("mlp", depth=1, width=4, input_shape=(8, 8, 1), classes=3)
    assert model.get_layer("flatten").output.shape == (None, 64)
    assert model.get_layer("dense_1").kernel.shape == (64, 4)


@pytest.mark.parametrize(
    "activation, expected",
    [("sigmoid", lambda z: 1 / (1 + np.exp(-z))), ("tanh", np.tanh), ("relu", lambda z: np.maximum(z, 0)),
     ("leaky_relu", lambda z: np.where(z > 0, z, 0.01 * z)), ("prelu", lambda z: np.where(z > 0, z, 0.25 * z)),
     ("elu", lambda z: np.where(z > 0, z, np.expm1(z))),
     ("selu", lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)))],
)
def test_activations_match_numpy(activation, expected, rng):
    model = plain_net("mlp", depth=1, width=6, activation=activation, include_top=False,
                      input_shape=(5,))
    x = rng.normal(size=(7, 5)).astype("float32")
    w, b = model.get_layer("dense_1").get_weights()
    np.testing.assert_allclose(model(x), expected(x @ w + b), rtol=1e-5, atol=1e-6)


def test_maxout_activation_matches_numpy(rng):
    model = plain_net("mlp", depth=1, width=4, activation="maxout", pieces=3, include_top=False,
                      input_shape=(5,))
    w, b = model.get_layer("dense_1").get_weights()
    assert w.shape == (5, 12)
    x = rng.normal(size=(7, 5)).astype("float32")
    z = (x @ w + b).reshape(7, 4, 3)  # contiguous groups of 3 pieces
    np.testing.assert_allclose(model(x), z.max(axis=-1), rtol=1e-5, atol=1e-6)


def test_prelu_is_per_channel_in_cnns():
    model = plain_net("cnn", depth=3, width=4, activation="prelu", input_shape=(12, 12, 1), classes=2)
    assert model.get_layer("act_1").get_weights()[0].shape == (1, 1, 4)
    np.testing.assert_allclose(model.get_layer("act_1").get_weights()[0], 0.25)


def test_norms():
    kinds = {}
    for norm in ("batch", "layer", "weight"):
        model = plain_net("mlp", depth=1, width=4, norm=norm, input_shape=(3,), classes=2)
        kinds[norm] = [type(layer).__name__ for layer in model.layers[1:-1]]
    assert kinds["batch"] == ["Dense", "FusedBatchNormalization", "Activation"]
    bn = plain_net("mlp", depth=1, width=4, norm="batch", input_shape=(3,), classes=2).layers[2]
    assert (bn.momentum, bn.epsilon) == (0.9, 1e-5)  # the papers' settings, as README says
    assert kinds["layer"] == ["Dense", "LayerNormalization", "Activation"]
    assert kinds["weight"] == ["WeightNormDense", "Activation"]


def weight_norm_conv(window, n_in, n_out):
    # kernel v, then g and b: one each per filter
    return window * n_in * n_out + 2 * n_out


@pytest.mark.parametrize(
    "input_shape, window, cls, out_shapes",
    [
        ((40, 1), 3, "WeightNormConv1D", [(None, 40, 4), (None, 20, 8), (None, 10, 16)]),
        ((8, 8, 1), 9, "WeightNormConv2D", [(None, 8, 8, 4), (None, 4, 4, 8), (None, 2, 2, 16)]),
    ],
)
def test_weight_norm_cnn(input_shape, window, cls, out_shapes, rng):
    model = plain_net("cnn", depth=3, width=4, norm="weight", input_shape=input_shape, classes=10)
    convs = [model.get_layer(f"conv_{i}") for i in (1, 2, 3)]
    assert [type(c).__name__ for c in convs] == [cls] * 3
    assert all(c.use_bias for c in convs) and [c.strides[0] for c in convs] == [1, 2, 2]
    norms = (keras.layers.BatchNormalization, keras.layers.LayerNormalization)
    assert not any(isinstance(layer, norms) for layer in model.layers)
    assert [model.get_layer(f"act_{i}").output.shape for i in (1, 2, 3)] == out_shapes
    expected = (weight_norm_conv(window, 1, 4) + weight_norm_conv(window, 4, 8)
                + weight_norm_conv(window, 8, 16) + dense(16, 10))
    assert trainable(model) == expected == {3: 718, 9: 1702}[window]
    positions = [int(np.prod(shape[1:-1])) for shape in out_shapes]
    macs = (positions[0] * window * 1 * 4 + positions[1] * window * 4 * 8
            + positions[2] * window * 8 * 16 + 16 * 10)
    assert count_macs(model) == macs
    # Untrained, each conv's effective kernel is its initial draw v (He normal for ReLU).
    np.testing.assert_allclose(convs[1].effective_kernel(), convs[1].kernel, atol=1e-6)
    probs = keras.ops.convert_to_numpy(model(rng.normal(size=(2, *input_shape)).astype("float32")))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "init, std",
    [("small", 0.01), ("he_normal", np.sqrt(2 / 400)), ("lecun_normal", np.sqrt(1 / 400)),
     ("glorot_normal", np.sqrt(2 / 700)), ("he_uniform", np.sqrt(2 / 400)),
     ("glorot_uniform", np.sqrt(2 / 700)), ("lecun_uniform", np.sqrt(1 / 400))],
)
def test_initialisers_have_the_right_scale(init, std):
    model = plain_net("mlp", depth=1, width=300, init=init, input_shape=(400,), classes=2)
    kernel = model.get_layer("dense_1").get_weights()[0]
    assert abs(kernel.mean()) < 0.05 * std
    assert kernel.std() == pytest.approx(std, rel=0.03)


@pytest.mark.parametrize("init", ["small", "he_normal"])
def test_equal_shaped_layers_get_independent_kernels(init):
    model = plain_net("cnn", depth=4, width=4, stages=1, init=init, input_shape=(6, 6, 4), classes=2)
    kernels = [model.get_layer(f"conv_{i}").get_weights()[0] for i in range(1, 5)]
    assert all(not np.array_equal(a, b) for i, a in enumerate(kernels) for b in kernels[i + 1:])


@pytest.mark.parametrize(
    "activation, init",
    [("sigmoid", "GlorotUniform"), ("relu", "HeNormal"), ("selu", "LecunNormal"),
     ("maxout", "GlorotUniform")],
)
def test_default_init_follows_the_activation(activation, init):
    model = plain_net("mlp", depth=1, width=4, activation=activation, input_shape=(3,), classes=2)
    assert type(model.get_layer("dense_1").kernel_initializer).__name__ == init


def test_selu_uses_alpha_dropout():
    model = plain_net("mlp", depth=2, width=4, activation="selu", dropout=0.1, input_dropout=0.1,
                      input_shape=(3,), classes=2)
    assert type(model.get_layer("dropout_1")).__name__ == "AlphaDropout"
    assert type(model.get_layer("input_dropout")).__name__ == "AlphaDropout"
    relu = plain_net("mlp", depth=2, width=4, dropout=0.1, input_shape=(3,), classes=2)
    assert type(relu.get_layer("dropout_1")).__name__ == "Dropout"


def test_highway_mlp_structure():
    model = highway_mlp(classes=10, depth=3, transform_bias_init=-3.0)
    assert hidden_layer_names(model) == ["highway_1", "highway_2", "highway_3"]
    assert model.get_layer("proj").units == 50
    bias = model.get_layer("highway_2").get_weights()[1]
    np.testing.assert_allclose(bias, [0.0] * 50 + [-3.0] * 50)


# ---- convolutional forms --------------------------------------------------------------------------


def test_conv1d_for_sequences():
    model = plain_cnn(input_shape=(40, 1), classes=10, depth=6, width=8)
    assert type(model.get_layer("conv_1")).__name__ == "Conv1D"
    shapes = [model.get_layer(f"act_{i}").output.shape for i in range(1, 7)]
    assert shapes == [(None, 40, 8)] * 2 + [(None, 20, 16)] * 2 + [(None, 10, 32)] * 2


def test_max_pool_downsampling():
    model = plain_net("cnn", depth=4, width=4, stages=2, downsample="max_pool",
                      input_shape=(9, 9, 3), classes=2)
    assert model.get_layer("pool_1").output.shape == (None, 5, 5, 4)
    assert [model.get_layer(f"conv_{i}").strides for i in range(1, 5)] == [(1, 1)] * 4
    assert model.get_layer("act_4").output.shape == (None, 5, 5, 8)


def test_conv_maxout_uses_channel_maxout():
    model = plain_net("cnn", depth=3, width=4, activation="maxout", pieces=2,
                      input_shape=(8, 8, 1), classes=2)
    assert model.get_layer("conv_1").filters == 8
    assert type(model.get_layer("act_1")).__name__ == "ChannelMaxout"
    assert model.get_layer("act_1").output.shape == (None, 8, 8, 4)


# ---- the lecture's point, on real numbers ---------------------------------------------------------


def test_small_init_makes_deep_activations_vanish():
    small = self_normalization_report(
        plain_net("mlp", depth=6, width=100, activation="tanh", init="small", input_shape=(100,),
                  classes=10))
    glorot = self_normalization_report(
        plain_net("mlp", depth=6, width=100, activation="tanh", init="glorot_normal",
                  input_shape=(100,), classes=10))
    # 0.01 * N(0, 1) weights scale the variance by 100 * 1e-4 = 0.01 per layer.
    assert small[-1]["variance"] < 1e-10
    assert glorot[-1]["variance"] > 0.05


def test_plain_mlp_learns_digits(digits_split):
    d = digits_split
    model = plain_mlp(input_shape=(8, 8, 1), classes=10, width=64, depth=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(d["x_train"], d["y_train"], epochs=15, batch_size=128, verbose=0)
    _, accuracy = model.evaluate(d["x_test"], d["y_test"], verbose=0)
    assert accuracy > 0.95


@pytest.mark.slow  # end to end, ~5 s; the fast suite trains test_plain_mlp_learns_digits
def test_weight_norm_cnn_learns_digits(digits_split):
    # Measured: 97.1-97.3% test accuracy over seeds 0, 1, 2 (norm="none": 96.0-97.3%).
    d = digits_split
    model = plain_net("cnn", depth=3, width=16, norm="weight", input_shape=(8, 8, 1), classes=10)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(d["x_train"], d["y_train"], epochs=15, batch_size=128, verbose=0)
    _, accuracy = model.evaluate(d["x_test"], d["y_test"], verbose=0)
    assert accuracy > 0.95


# ---- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(classes=0), "classes"),
        (dict(classes=None), "classes"),
        (dict(classes=10, pooling="mean"), "pooling"),
        (dict(classes=10, width=0), "width"),
        (dict(classes=10, depth=0), "depth"),
        (dict(classes=10, dropout=1.0), "dropout"),
        (dict(classes=10, dropout=-0.1), "dropout"),
        (dict(classes=10, input_dropout=1.5), "input_dropout"),
        (dict(classes=10, activation="swish"), "activation"),
        (dict(classes=10, norm="group"), "norm"),
        (dict(classes=10, init="orthogonal"), "init"),
        (dict(classes=10, kind="rnn"), "kind"),
        (dict(classes=10, layer_type="conv"), "layer_type"),
        (dict(classes=10, activation="maxout", pieces=1), "pieces"),
        (dict(classes=10, layer_type="maxout", activation="relu"), "activation"),
        (dict(classes=10, layer_type="maxout", norm="batch"), "norm"),
        (dict(classes=10, layer_type="highway", activation="prelu"), "activation"),
        (dict(classes=10, layer_type="highway", norm="layer"), "norm"),
        (dict(classes=10, layer_type="highway", norm="weight"), "norm"),
        (dict(classes=10, layer_type="maxout", norm="weight"), "norm"),
        (dict(classes=10, kernel_regularizer="l3"), "kernel_regularizer"),
        (dict(classes=10, kind="cnn", layer_type="highway"), "layer_type"),
        (dict(classes=10, kind="cnn", depth=2, stages=3), "depth"),
        (dict(classes=10, kind="cnn", downsample="avg_pool"), "downsample"),
        (dict(classes=10, kind="cnn", input_shape=(4, 4, 4, 1)), "input_shape"),
        (dict(classes=10, input_shape=(0,)), "input_shape"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plain_net(**kwargs)


def test_variants_validate_too():
    with pytest.raises(ValueError, match="activation"):
        plain_mlp(classes=10, activation="gelu")
    with pytest.raises(ValueError, match="classes"):
        plain_cnn()
