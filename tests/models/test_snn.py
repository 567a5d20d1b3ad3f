import keras
import numpy as np
import pytest

from kzoo.models.plain import plain_net
from kzoo.models.snn import self_normalization_report, snn_mlp
from tests.helpers import count_trainable, dense_params


def test_structure_and_params():
    model = snn_mlp(depth=3, width=32, dropout=0.05, input_shape=(20,), classes=4)
    assert count_trainable(model) == (
        dense_params(20, 32) + 2 * dense_params(32, 32) + dense_params(32, 4)
    )
    for i in (1, 2, 3):
        assert model.get_layer(f"act_{i}").get_config()["activation"] == "selu"
        assert type(model.get_layer(f"dense_{i}").kernel_initializer).__name__ == "LecunNormal"
        assert type(model.get_layer(f"dropout_{i}")).__name__ == "AlphaDropout"
    assert model.name == "snn_mlp"


def test_selu_constants_are_the_papers():
    model = snn_mlp(depth=1, width=3, include_top=False, input_shape=(3,))
    model.get_layer("dense_1").set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    x = np.array([[-1.0, 0.0, 2.0]], "float32")
    lam, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
    np.testing.assert_allclose(model(x),
                               [[lam * alpha * (np.exp(-1.0) - 1.0), 0.0, 2.0 * lam]], rtol=1e-6)


@pytest.mark.parametrize("depth, width", [(16, 256), (32, 128)])
def test_self_normalisation_at_init(depth, width):
    report = self_normalization_report(snn_mlp(depth=depth, width=width, classes=10), n=2048, seed=3)
    assert [row["layer"] for row in report] == [f"act_{i}" for i in range(1, depth + 1)]
    for row in report:
        assert abs(row["mean"]) < 0.1, row
        assert 0.8 < row["variance"] < 1.2, row


def test_relu_network_does_not_self_normalise():
    # Same depth and init scale (variance 1/fan_in): ReLU halves the second moment at every layer.
    model = plain_net("mlp", depth=16, width=256, activation="relu", init="lecun_normal",
                      input_shape=(784,), classes=10)
    report = self_normalization_report(model, n=1024)
    assert report[-1]["variance"] < 1e-3


def test_alpha_dropout_keeps_the_fixed_point_in_training():
    model = snn_mlp(depth=8, width=256, dropout=0.1, include_top=False, input_shape=(256,))
    x = np.random.default_rng(0).standard_normal((4096, 256)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=True))
    assert abs(y.mean()) < 0.1
    assert 0.8 < y.var() < 1.2


def test_snn_learns_breast_cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    mean, std = x_train.mean(0), x_train.std(0)
    x_train, x_test = ((x_train - mean) / std).astype("float32"), ((x_test - mean) / std).astype(
        "float32")
    model = snn_mlp(depth=4, width=64, input_shape=(30,), classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.93  # the majority class is 63%


def test_report_leaves_the_model_untouched():
    model = snn_mlp(depth=4, width=16, input_shape=(8,), classes=3)
    x = np.random.default_rng(1).standard_normal((5, 8)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x))
    n_layers = len(model.layers)
    self_normalization_report(model, n=64)
    assert len(model.layers) == n_layers
    np.testing.assert_array_equal(model(x), before)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(depth=0), "depth"), (dict(width=-3), "width"), (dict(dropout=1.0), "dropout"),
     (dict(classes=0), "classes"), (dict(classes=None), "classes"),
     (dict(pooling="sum"), "pooling")],
)
def test_bad_arguments(kwargs, match):
    kwargs = {"classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        snn_mlp(**kwargs)


def test_report_bad_input():
    with pytest.raises(ValueError, match="n"):
        self_normalization_report(snn_mlp(depth=1, classes=2), n=0)
    inputs = keras.Input((3,))
    other = keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs))
    with pytest.raises(ValueError, match="hidden layers"):
        self_normalization_report(other)
