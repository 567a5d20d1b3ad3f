import time

import keras
import numpy as np
import pytest

import kzoo
from kzoo.models.resnet import resnet_cifar
from kzoo.models.resnet_imagenet import resnet_imagenet
from kzoo.registry import get_entry
from tests.helpers import bn_params as bn
from tests.helpers import conv_params as conv
from tests.helpers import count_trainable as trainable
from tests.helpers import dense_params as dense
from tests.helpers import se_params as se


# ------------------------------------------ parameter counts from the papers' definitions, by hand
def cifar_v1_count(n, shortcut="A", se_ratio=None, classes=10):
    """He 2015 section 4.2: 3x3 conv 16 + BN, 3 stages x n basic blocks (16/32/64), pool, FC."""
    total = conv(3, 3, 16) + bn(16)
    cin = 16
    for f in (16, 32, 64):
        for _ in range(n):
            total += conv(3, cin, f) + bn(f) + conv(3, f, f) + bn(f)
            if se_ratio:
                total += se(f, se_ratio)
            if shortcut == "B" and cin != f:
                total += conv(1, cin, f) + bn(f)
            cin = f
    return total + dense(64, classes)


def cifar_preact_count(n, bottleneck, classes=10, se_ratio=None):
    """He 2016: 3x3 conv 16, pre-activation units, 1x1 projections on shape change, BN-ReLU, FC."""
    total = conv(3, 3, 16)
    cin = 16
    for f in (16, 32, 64):
        out = 4 * f if bottleneck else f
        for _ in range(n):
            if bottleneck:
                total += bn(cin) + conv(1, cin, f) + bn(f) + conv(3, f, f) + bn(f) + conv(1, f, out)
            else:
                total += bn(cin) + conv(3, cin, f) + bn(f) + conv(3, f, f)
            if cin != out:
                total += conv(1, cin, out)
            if se_ratio is not None:
                total += se(out, se_ratio)
            cin = out
    return total + bn(cin) + dense(cin, classes)


def imagenet_count(depth, classes=1000, include_top=True):
    """He 2015 Table 1 with projection shortcuts (conv + BN) where the shape changes."""
    bottleneck, blocks = {
        18: (False, (2, 2, 2, 2)),
        34: (False, (3, 4, 6, 3)),
        50: (True, (3, 4, 6, 3)),
        101: (True, (3, 4, 23, 3)),
        152: (True, (3, 8, 36, 3)),
    }[depth]
    total = conv(7, 3, 64) + bn(64)
    cin = 64
    for stage, (f, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        out = 4 * f if bottleneck else f
        for i in range(n):
            if bottleneck:
                total += conv(1, cin, f) + bn(f) + conv(3, f, f) + bn(f) + conv(1, f, out) + bn(out)
            else:
                total += conv(3, cin, f) + bn(f) + conv(3, f, f) + bn(f)
            if cin != out or (stage > 0 and i == 0):
                total += conv(1, cin, out) + bn(out)
            cin = out
    return total + (dense(cin, classes) if include_top else 0)


def test_count_formulas_reproduce_the_published_counts():
    assert cifar_v1_count(3) == 269_722
    assert cifar_v1_count(3, shortcut="B") == 272_474
    assert cifar_v1_count(9) == 853_018
    assert cifar_v1_count(18) == 1_727_962
    assert cifar_preact_count(18, bottleneck=False) == 1_730_522
    # preact_resnet110 + 18 SE gates at 16, 32 and 64 channels (49 + 162 + 580 parameters each)
    assert cifar_preact_count(18, bottleneck=False, se_ratio=16) == 1_730_522 + 18 * (
        49 + 162 + 580
    )
    assert imagenet_count(18) == 11_689_512
    assert imagenet_count(34) == 21_797_672
    assert imagenet_count(50) == 25_557_032
    assert imagenet_count(101) == 44_549_160
    assert imagenet_count(152) == 60_192_808


@pytest.fixture(scope="module")
def registered():
    """`registered(name)`: the registered model, built once for this module's tests."""
    built = {}

    def get(name):
        if name not in built:
            classes = 1000 if get_entry(name).default_input_shape == (224, 224, 3) else 10
            built[name] = kzoo.create_model(name, classes=classes)
        return built[name]

    yield get
    built.clear()


# ------------------------------------------------------- every registered variant, from its formula
# The 110- and 164-layer and ImageNet-34/50 variants take seconds each to build (Keras creates
# every variable eagerly): their counts run under `pytest -m slow`. The CIFAR builder, with the
# same block kinds and options, is counted fast at a small depth (test_small_depths_count_like_...).
FAST_COUNTS = [
    ("resnet20", cifar_v1_count(3)),
    ("resnet32", cifar_v1_count(5)),
    ("resnet44", cifar_v1_count(7)),
    ("resnet56", cifar_v1_count(9)),
    ("se_resnet20", cifar_v1_count(3, se_ratio=16)),
    ("se_resnet56", cifar_v1_count(9, se_ratio=16)),
    ("resnet18", imagenet_count(18)),
]
SLOW_COUNTS = [
    ("resnet110", cifar_v1_count(18)),
    ("preact_resnet110", cifar_preact_count(18, bottleneck=False)),
    ("se_resnet110", cifar_v1_count(18, se_ratio=16)),
    ("se_preact_resnet110", cifar_preact_count(18, bottleneck=False, se_ratio=16)),
    ("preact_resnet164", cifar_preact_count(18, bottleneck=True)),
    ("se_preact_resnet164", cifar_preact_count(18, bottleneck=True, se_ratio=16)),
    ("resnet34", imagenet_count(34)),
    ("resnet50", imagenet_count(50)),
]


@pytest.mark.parametrize(
    "name, expected",
    [*FAST_COUNTS, *(pytest.param(*case, marks=pytest.mark.slow) for case in SLOW_COUNTS)],
)
def test_registered_variant_counts(name, expected, registered):
    assert trainable(registered(name)) == expected


def test_small_depths_count_like_the_formulas():
    # n = 1 block per stage, every option the registered variants use.
    assert trainable(resnet_cifar(8, shortcut="B", classes=10)) == cifar_v1_count(1, "B")
    assert trainable(resnet_cifar(8, preact=True, shortcut="B", se_ratio=16, classes=10)) == (
        cifar_preact_count(1, False, se_ratio=16)
    )
    assert trainable(resnet_cifar(11, bottleneck=True, preact=True, shortcut="B", se_ratio=16,
                                  classes=10)) == cifar_preact_count(1, True, se_ratio=16)


@pytest.mark.slow
def test_resnet50_features_on_other_input_sizes():
    maps = resnet_imagenet(50, include_top=False, input_shape=(64, 96, 3))
    assert maps.output_shape == (None, 2, 3, 2048)
    assert trainable(maps) == imagenet_count(50, include_top=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet101", "resnet152"])
def test_deep_imagenet_variant_counts(name):
    start = time.perf_counter()
    model = kzoo.create_model(name, classes=1000)
    print(f"{name} built in {time.perf_counter() - start:.1f} s")
    assert trainable(model) == imagenet_count(int(name[6:]))
    assert model.output_shape == (None, 1000)


@pytest.mark.slow
def test_resnet1202_graph_is_shallow_enough_to_build_and_run():
    start = time.perf_counter()
    model = kzoo.create_model("resnet1202", classes=10)
    print(f"resnet1202 built in {time.perf_counter() - start:.1f} s")
    assert len(model.layers) == 1 + 3 + 600 + 2  # input, stem conv/BN/ReLU, 600 blocks, pool, dense
    assert trainable(model) == cifar_v1_count(200)
    probs = keras.ops.convert_to_numpy(model(np.zeros((1, 32, 32, 3), "float32")))
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_preact_resnet1001_builds():
    model = kzoo.create_model("preact_resnet1001", classes=10)
    assert trainable(model) == cifar_preact_count(111, bottleneck=True)
    assert model.get_layer("stage3_block111").output.shape == (None, 8, 8, 256)


# ------------------------------------------------------------------------------- structure
def test_registered_metadata():
    names = set(kzoo.list_models("resnet*")) | set(kzoo.list_models("*_resnet*"))
    expected = {"resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"}
    expected |= {"preact_resnet110", "preact_resnet164", "preact_resnet1001"}
    expected |= {"se_resnet20", "se_resnet56", "se_resnet110"}
    expected |= {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152"}
    assert expected <= names
    assert get_entry("resnet110").published["cifar10_error"] == 6.43
    assert get_entry("preact_resnet1001").published["cifar10_error"] == 4.92
    assert get_entry("resnet20").default_input_shape == (32, 32, 3)
    assert get_entry("resnet50").default_input_shape == (224, 224, 3)
    assert "Identity Mappings" in get_entry("preact_resnet164").paper
    assert "Squeeze-and-Excitation" in get_entry("se_resnet56").paper


def test_cifar_layer_names_and_shapes(registered):
    model = registered("resnet20")
    assert model.name == "resnet20"
    assert model.get_layer("stage1_block3").output.shape == (None, 32, 32, 16)
    assert model.get_layer("stage2_block1").output.shape == (None, 16, 16, 32)
    assert model.get_layer("stage3_block3").output.shape == (None, 8, 8, 64)
    assert model.get_layer("stage2_block1").stride == 2
    assert model.get_layer("predictions").activation is keras.activations.softmax


def test_preact_has_final_bn_and_no_stem_bn():
    model = resnet_cifar(20, preact=True, shortcut="B", classes=10)
    assert model.name == "preact_resnet20"
    bn = keras.layers.BatchNormalization
    norms = [layer.name for layer in model.layers if isinstance(layer, bn)]
    assert norms == ["final_bn"]  # no BatchNorm after the stem convolution
    assert "final_relu" in {layer.name for layer in model.layers}
    assert model.get_layer("stage1_block1").preact


def test_imagenet_stem_and_stage_shapes(registered):
    model = registered("resnet18")
    assert model.get_layer("stem_conv").output.shape == (None, 112, 112, 64)
    assert model.get_layer("stem_pool").output.shape == (None, 56, 56, 64)
    assert model.get_layer("stage4_block2").output.shape == (None, 7, 7, 512)


def test_forward_pass_gives_probabilities(rng, registered):
    model = registered("se_resnet20")
    probs = keras.ops.convert_to_numpy(model(rng.normal(size=(3, 32, 32, 3)).astype("float32")))
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_headless_pooling_other_input_sizes():
    features = resnet_cifar(20, include_top=False, pooling="avg", input_shape=(40, 24, 1))
    assert features.output_shape == (None, 64)
    maps = resnet_imagenet(18, include_top=False, input_shape=(64, 96, 3))
    assert maps.output_shape == (None, 2, 3, 512)
    assert trainable(maps) == imagenet_count(18, include_top=False)
    tensor = keras.Input((28, 28, 3))
    model = resnet_cifar(14, input_tensor=tensor, classes=4, name="small")
    assert model.name == "small" and model.output_shape == (None, 4)


def test_kernel_regularizer_reaches_every_convolution():
    model = resnet_cifar(20, se_ratio=4, classes=10, kernel_regularizer=keras.regularizers.L2(1e-4))
    # stem + 9 blocks x (2 convolutions + 2 SE kernels); the head is added by the shared helper.
    assert len(model.losses) == 1 + 9 * 4


def test_bottleneck_cifar_family():
    model = resnet_cifar(29, bottleneck=True, shortcut="B", classes=10)
    assert model.get_layer("stage3_block3").output.shape == (None, 8, 8, 256)


# ------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "depth, listed", [(21, "14, 20, 26"), (19, "20"), (7, "8, 14"), (20.0, "8")]
)
def test_depth_not_6n_plus_2_lists_valid_depths(depth, listed):
    with pytest.raises(ValueError, match=rf"6n\+2.*received depth={depth}.*near it: .*{listed}"):
        resnet_cifar(depth, classes=10)


def test_bottleneck_depth_must_be_9n_plus_2():
    with pytest.raises(ValueError, match=r"9n\+2.*received depth=111.*101, 110, 119"):
        resnet_cifar(111, bottleneck=True, classes=10)
    with pytest.raises(ValueError, match=r"received depth=165.*164"):
        resnet_cifar(165, bottleneck=True, classes=10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(shortcut="C"), "shortcut"),
        (dict(dropout=1.0), "dropout"),
        (dict(se_ratio=0), "se_ratio"),
        (dict(preact="no"), "preact"),
        (dict(bottleneck=1), "bottleneck"),
        (dict(input_shape=(3, 3, 3)), "too small"),
        (dict(input_shape=(32, 32)), "rank"),
        (dict(input_shape=(32, 32, None)), "channel"),
        (dict(classes=None), "classes"),
        (dict(pooling="sum"), "pooling"),
    ],
)
def test_invalid_cifar_arguments(kwargs, match):
    kwargs = {"classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        resnet_cifar(20, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(depth=42), "depth"),
        (dict(depth=True), "depth"),
        (dict(depth=50, input_shape=(31, 64, 3)), "too small"),
        (dict(depth=50, classes=0), "classes"),
    ],
)
def test_invalid_imagenet_arguments(kwargs, match):
    kwargs = {"classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        resnet_imagenet(**kwargs)
