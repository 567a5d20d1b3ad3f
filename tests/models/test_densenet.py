import keras
import numpy as np
import pytest

import kzoo.models.densenet as dn
from kzoo.models.keras_files import load_keras, save_keras
from kzoo.registry import create_model, get_entry, list_models
from tests.helpers import count_trainable as trainable

VARIANTS = ["densenet_40_12", "densenet_bc_100_12", "densenet_bc_250_24", "densenet_bc_190_40"]


@pytest.fixture(scope="module")
def registered():
    """`registered(name)`: the registered 10-class model, built once for this module's tests."""
    built = {}

    def get(name):
        if name not in built:
            built[name] = create_model(name, classes=10)
        return built[name]

    yield get
    built.clear()


def bc_params(depth, k, classes=10):
    """DenseNet-BC trainable parameters from the paper's definition (no conv bias, theta = 0.5)."""
    n = (depth - 4) // 6
    c = 2 * k  # stem: 3x3 conv to 2k channels
    total = 3 * 3 * 3 * c
    for block in range(3):
        for _ in range(n):  # BN(c), 1x1 conv c->4k, BN(4k), 3x3 conv 4k->k
            total += 2 * c + c * 4 * k + 2 * 4 * k + 9 * 4 * k * k
            c += k
        if block < 2:  # BN(c), 1x1 conv c->floor(c/2)
            total += 2 * c + c * (c // 2)
            c //= 2
    return total + 2 * c + c * classes + classes  # final BN, classifier


def test_formula_agrees_with_the_published_bc_100_12_count():
    assert bc_params(100, 12) == 769_162
    assert bc_params(100, 12, classes=100) == 800_032


@pytest.mark.parametrize(
    "name, expected", [("densenet_40_12", 1_019_722), ("densenet_bc_100_12", 769_162)]
)
def test_golden_trainable_counts(name, expected, registered):
    assert trainable(registered(name)) == expected


def test_counts_follow_the_formula_for_other_class_counts():
    model = dn.densenet(16, 4, True, 0.5, classes=100, input_shape=(8, 8, 3))
    assert trainable(model) == bc_params(16, 4, classes=100)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, depth, k, paper_millions",
    [("densenet_bc_250_24", 250, 24, 15.3), ("densenet_bc_190_40", 190, 40, 25.6)],
)
def test_large_bc_counts_follow_the_paper(name, depth, k, paper_millions):
    model = create_model(name, classes=10)
    count = trainable(model)
    assert count == bc_params(depth, k)
    assert round(count / 1e6, 1) == paper_millions
    assert model.output_shape == (None, 10)


def test_structure_of_densenet_bc_100_12(registered):
    model = registered("densenet_bc_100_12")
    names = [layer.name for layer in model.layers]
    assert names == [
        "input",
        "stem_conv",
        "block1",
        "transition1",
        "block2",
        "transition2",
        "block3",
        "final_bn",
        "final_relu",
        "avg_pool",
        "predictions",
    ]
    assert model.get_layer("stem_conv").output.shape[-1] == 24
    for b in (1, 2, 3):
        block = model.get_layer(f"block{b}")
        assert (block.num_layers, block.growth_rate, block.bottleneck) == (16, 12, True)
    shapes = [tuple(model.get_layer(n).output.shape[1:]) for n in names[2:7]]
    assert shapes == [(32, 32, 216), (16, 16, 108), (16, 16, 300), (8, 8, 150), (8, 8, 342)]
    assert model.get_layer("transition1").compression == 0.5
    assert model.get_layer("final_bn").momentum == pytest.approx(0.9)
    assert model.get_layer("final_bn").epsilon == pytest.approx(1e-5)


def test_densenet_40_12_has_12_plain_layers_per_block_and_a_16_channel_stem(registered):
    model = registered("densenet_40_12")
    assert model.get_layer("stem_conv").output.shape[-1] == 16
    block = model.get_layer("block3")
    assert (block.num_layers, block.bottleneck) == (12, False)
    assert model.get_layer("transition2").compression == 1.0
    assert tuple(model.get_layer("block3").output.shape[1:]) == (8, 8, 448)


def test_registry_entries():
    assert list_models("densenet*") == sorted(VARIANTS)
    published = {
        "densenet_40_12": (5.24, 24.42),
        "densenet_bc_100_12": (4.51, 22.27),
        "densenet_bc_250_24": (3.62, 17.60),
        "densenet_bc_190_40": (3.46, 17.18),
    }
    for name, (c10, c100) in published.items():
        entry = get_entry(name)
        assert entry.family == "densenet"
        assert entry.default_input_shape == (32, 32, 3)
        assert entry.published == {"cifar10_error": c10, "cifar100_error": c100}
        assert "Huang" in entry.paper


def test_headless_outputs_and_default_names():
    # No compression: 16 stem channels + 3 blocks x 4 layers x 4 growth = 64 channels at 8x8.
    features = dn.densenet(16, 4, False, 1.0, include_top=False)
    assert features.output_shape == (None, 8, 8, 64)
    assert features.name == "densenet_16_4"
    # BC: stem 2k = 8; each block adds 2 x 4 channels, each transition halves: 8+8=16 -> 8 -> 16
    # -> 8 -> 16.
    pooled = dn.densenet(16, 4, True, 0.5, include_top=False, pooling="max")
    assert pooled.output_shape == (None, 16)
    assert pooled.name == "densenet_bc_16_4"
    assert dn.densenet(10, 4, True, 1.0, include_top=False).name == "densenet_b_10_4"


def test_dropout_follows_every_conv_but_the_stem():
    model = dn.densenet(10, 4, True, 0.5, dropout=0.2, classes=3, input_shape=(8, 8, 3))
    rates = {layer.name: layer.dropout for layer in model.layers if hasattr(layer, "dropout")}
    expected = ["block1", "transition1", "block2", "transition2", "block3"]
    assert rates == dict.fromkeys(expected, 0.2)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


def test_small_input_builds_and_predicts(rng):
    model = dn.densenet(10, 4, True, 0.5, classes=5, input_shape=(4, 4, 1))
    probs = keras.ops.convert_to_numpy(model(rng.normal(size=(3, 4, 4, 1)).astype("float32")))
    assert probs.shape == (3, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_keras_file_round_trip_safe_mode(rng, tmp_path):
    model = dn.densenet(10, 4, True, 0.5, dropout=0.1, classes=4, input_shape=(8, 8, 3))
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    loaded = load_keras(save_keras(model, tmp_path / "densenet.keras"))
    np.testing.assert_allclose(loaded(x, training=False), expected, atol=1e-6)
    for saved, restored in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(restored, saved)


def test_clone_with_kernel_regularizer_reaches_every_kernel():
    """The training engine's weight-decay path: clone, setting kernel_regularizer where it exists."""
    model = dn.densenet(10, 4, True, 0.5, classes=3, input_shape=(8, 8, 3))

    def with_l2(layer):
        config = layer.get_config()
        if "kernel_regularizer" in config:
            config["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 1e-4}}
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=with_l2)
    clone.set_weights(model.get_weights())
    kernels = [w for w in clone.trainable_weights if w.name == "kernel"]
    # stem + 3 blocks x 1 layer x 2 convs + 2 transitions + classifier
    assert len(kernels) == 1 + 6 + 2 + 1
    expected = 1e-4 * sum(float((np.asarray(k) ** 2).sum()) for k in kernels)
    np.testing.assert_allclose(float(sum(clone.losses)), expected, rtol=1e-4)


@pytest.mark.slow  # end to end, ~5-10 s; test_plain.py trains an MLP on digits in the fast suite
def test_learns_uci_digits(digits_split):
    d = digits_split
    model = dn.densenet(10, 8, False, 1.0, classes=10, input_shape=(8, 8, 1))
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(d["x_train"], d["y_train"], batch_size=64, epochs=5, verbose=0)
    _, accuracy = model.evaluate(d["x_test"], d["y_test"], verbose=0)
    assert accuracy > 0.95


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"depth": 41, "bottleneck": False}, r"depth.*3n \+ 4.*34, 37, 40, 43, 46.*41"),
        ({"depth": 99, "bottleneck": True}, r"depth.*6n \+ 4.*88, 94, 100, 106, 112.*99"),
        ({"depth": 43, "bottleneck": True}, r"depth=43"),
        ({"depth": 4}, r"depth"),
        ({"depth": 40.0}, r"depth"),
        ({"growth_rate": 0}, r"growth_rate=0"),
        ({"growth_rate": 1.5}, r"growth_rate"),
        ({"compression": 0.0}, r"compression=0.0"),
        ({"compression": 1.5}, r"compression=1.5"),
        ({"dropout": 1.0}, r"dropout=1.0"),
        ({"bottleneck": "yes"}, r"bottleneck"),
        ({"stem_channels": 0}, r"stem_channels"),
        ({"input_shape": (3, 3, 3)}, r"too small.*at least 4"),
        ({"input_shape": (32, 3, 3)}, r"too small"),
        ({"classes": None}, r"classes"),
        ({"pooling": "sum", "include_top": False}, r"pooling"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, pattern):
    args = {"depth": 40, "growth_rate": 12, "bottleneck": False, "compression": 1.0, "classes": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        dn.densenet(**args)


def test_variants_validate_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        create_model("densenet_bc_100_12", classes=10, input_shape=(2, 2, 3))
