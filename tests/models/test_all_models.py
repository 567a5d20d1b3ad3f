"""Every registered model: builds, runs, round-trips through `.keras` and kzoo's safe loader."""

import keras
import numpy as np
import pytest

import kzoo
from kzoo.info import default_classes
from kzoo.models.keras_files import load_keras, save_keras
from kzoo.registry import get_entry
from tests.helpers import json_form

# Still run in CI, under `pytest -m slow`: over ~5M parameters or ~10 s to build, and the deeper
# siblings of a fast variant, whose blocks the fast suite round-trips elsewhere (most of this
# test's time is Keras creating and loading each variable): resnet20 and se_resnet20 run here;
# pre-activation blocks in wrn_16_4 here and in tests/layers/test_residual.py; a small DenseNet-BC
# in tests/models/test_densenet.py. Every variant's parameter count is checked fast elsewhere.
SLOW = {
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "se_resnet56",
    "preact_resnet110",
    "densenet_bc_100_12",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet1202",
    "preact_resnet164",
    "preact_resnet1001",
    "se_resnet110",
    "se_preact_resnet110",
    "se_preact_resnet164",
    "wrn_16_8",
    "wrn_28_10",
    "wrn_40_4",
    "densenet_bc_190_40",
    "densenet_bc_250_24",
    # Small, but their eager recurrent loops (40 steps, both ways for gru) take 4-7 s here.
    "gru",
    "grid_lstm",
    # The case studies: ImageNet builds, the CIFAR ResNeXts and VGG (15-68M parameters), and
    # MobileNet v2's 17 blocks (its CIFAR form ~7 s); their tiny forms are tested fast in
    # test_resnext.py, test_vgg.py, test_mobilenet.py and test_efficientnet.py.
    "resnext29_8x64d",
    "resnext29_16x64d",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "vgg16",
    "vgg16_bn",
    "vgg19_bn",
    "vgg16_cifar",
    "mobilenet_v1",
    "mobilenet_v1_075",
    "mobilenet_v1_050",
    "mobilenet_v1_025",
    "mobilenet_v1_160",
    "mobilenet_v1_128",
    "mobilenet_v2",
    "mobilenet_v2_cifar",
    *(f"efficientnet_b{b}" for b in range(8)),
}
FAST_PARAMS_LIMIT = 5_000_000

CONTRACT_NAMES = """
plain_mlp plain_cnn highway_mlp maxout_mlp snn_mlp resnet20 resnet32 resnet44 resnet56 resnet110
resnet1202 preact_resnet110 preact_resnet164 preact_resnet1001 se_resnet20 se_resnet56 se_resnet110
resnet18 resnet34 resnet50 resnet101 resnet152 wrn_16_4 wrn_16_8 wrn_28_10 wrn_40_4 densenet_40_12
densenet_bc_100_12 densenet_bc_250_24 densenet_bc_190_40
""".split()


def model_params():
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in kzoo.list_models()
    ]


def test_every_contract_name_is_registered():
    assert set(CONTRACT_NAMES) <= set(kzoo.list_models())
    assert SLOW <= set(kzoo.list_models())


def outputs_of(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def training_outputs_of(model, x):
    """Training-mode outputs (BatchNorm on batch statistics) without touching the model's state."""
    outputs, _ = model.stateless_call(
        model.trainable_variables, model.non_trainable_variables, x, training=True
    )
    return keras.ops.convert_to_numpy(outputs)


@pytest.mark.parametrize("name", model_params())
def test_model(name, tmp_path):
    entry = get_entry(name)
    classes = default_classes(entry)
    model = kzoo.create_model(name, classes=classes)
    params = model.count_params()
    if name not in SLOW:
        assert params < FAST_PARAMS_LIMIT, f"{name} has {params:,} parameters: add it to SLOW"

    # Forward pass on the default input shape. An untrained very deep ResNet overflows in
    # inference mode (BatchNorm's initial moving variance 1 lets every block roughly double the
    # residual stream), so probabilities are checked in training mode, as the model is first used.
    assert tuple(model.input.shape[1:]) == entry.default_input_shape
    x = np.random.default_rng(0).normal(size=(2, *entry.default_input_shape)).astype("float32")
    y = outputs_of(model, x)
    assert y.shape == (2, classes)
    probabilities = training_outputs_of(model, x)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    # kzoo's `.keras` round trip (safe loader, no custom_objects): the same config, the same
    # weights under the same paths, the same outputs. Loading rebuilds the model from its config,
    # so this is also the get_config / from_config round trip.
    loaded = load_keras(save_keras(model, tmp_path / f"{name}.keras"))
    assert json_form(loaded.get_config()) == json_form(model.get_config())
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    for saved, restored in zip(model.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored),
                                      keras.ops.convert_to_numpy(saved))
    np.testing.assert_allclose(outputs_of(loaded, x), y, rtol=1e-6, atol=1e-7)
    del loaded

    # Every kernel is its own random draw. An unseeded Keras initializer fixes its seed when it is
    # constructed, so one instance shared by equal-shaped layers hands them identical kernels.
    first_seen, repeats = {}, []
    for w in model.trainable_weights:
        # (Keras' GRU keeps its input and recurrent biases as one (2, 3 units) weight: not a kernel.)
        if len(w.shape) >= 2 and not w.path.endswith("bias"):
            value = keras.ops.convert_to_numpy(w)
            key = (value.shape, value.tobytes())
            if key in first_seen:
                repeats.append((first_seen[key], w.path))
            first_seen.setdefault(key, w.path)
    assert not repeats, f"{len(repeats)} kernels repeat an earlier one at init, e.g. {repeats[:3]}"
