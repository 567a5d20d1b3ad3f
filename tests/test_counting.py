import keras
import numpy as np
import pytest

import kzoo
from kzoo.cli import main
from kzoo.counting import count_macs
from kzoo.info import default_classes, format_info, format_published, human, model_info
from kzoo.layers import (
    BasicBlock,
    Highway,
    Maxout,
    SqueezeExcite,
    WeightNormConv1D,
    WeightNormConv2D,
    WeightNormDense,
)
from kzoo.model_table import COLUMNS, model_table
from kzoo.registry import get_entry


def single_layer_macs(layer, input_shape):
    inputs = keras.Input(input_shape)
    return count_macs(keras.Model(inputs, layer(inputs)))


def conv3x3(size, c_in, c_out):
    return size * size * 9 * c_in * c_out


def resnet20_macs(classes=10):
    """ResNet-20 on 32x32x3 by hand (~40.6M MACs, ~81M FLOPs)."""
    stem = conv3x3(32, 3, 16)
    stage1 = 6 * conv3x3(32, 16, 16)  # 3 blocks x 2 convs at 32x32x16
    stage2 = conv3x3(16, 16, 32) + 5 * conv3x3(16, 32, 32)  # stride-2 first conv, output 16x16
    stage3 = conv3x3(8, 32, 64) + 5 * conv3x3(8, 64, 64)
    shortcuts = 0  # option A: zero padding, no weights
    head = 64 * classes
    return stem + stage1 + stage2 + stage3 + shortcuts + head


RESNET20_MACS = resnet20_macs()


def test_resnet20_by_hand():
    assert count_macs(kzoo.create_model("resnet20", classes=10)) == RESNET20_MACS


def test_resnet20_with_projection_shortcuts_adds_the_1x1_convs():
    model = kzoo.create_model("resnet20", classes=10, shortcut="B")
    projections = 16 * 16 * 16 * 32 + 8 * 8 * 32 * 64  # 1x1 stride-2 convs, output 16x16 and 8x8
    assert count_macs(model) == RESNET20_MACS + projections


def test_dense_only_model():
    inputs = keras.Input((20,))
    x = keras.layers.Dense(30, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    outputs = keras.layers.Dense(5)(x)
    assert count_macs(keras.Model(inputs, outputs)) == 20 * 30 + 30 * 5


def test_dense_on_sequences_counts_every_position():
    assert single_layer_macs(keras.layers.Dense(4), (7, 20)) == 7 * 20 * 4


def test_conv_only_model():
    inputs = keras.Input((17, 17, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="valid")(inputs)  # -> 8x8x8
    x = keras.layers.MaxPooling2D()(x)  # -> 4x4x8
    x = keras.layers.Conv2D(6, 1)(x)
    model = keras.Model(inputs, x)
    assert count_macs(model) == 8 * 8 * 3 * 3 * 3 * 8 + 4 * 4 * 8 * 6


@pytest.mark.parametrize(
    "layer, input_shape, expected",
    [
        (lambda: keras.layers.Conv1D(6, 5, padding="same"), (40, 2), 40 * 5 * 2 * 6),
        (lambda: keras.layers.Conv1D(6, 5, strides=2), (40, 2), 18 * 5 * 2 * 6),
        (lambda: keras.layers.Conv2D(8, 3, groups=2, padding="same"), (10, 10, 4), 100 * 9 * 2 * 8),
        (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (10, 10, 4), 64 * 9 * 4 * 2),
        (lambda: keras.layers.SeparableConv2D(6, 3, padding="same"), (10, 10, 4),
         100 * (9 * 4 + 4 * 6)),
        (lambda: keras.layers.Conv2DTranspose(5, 3, strides=2), (6, 6, 4), 36 * 9 * 4 * 5),
        (lambda: keras.layers.Conv3D(2, 3), (5, 5, 5, 1), 27 * 27 * 1 * 2),
    ],
)
def test_convolutions(layer, input_shape, expected):
    assert single_layer_macs(layer(), input_shape) == expected


@pytest.mark.parametrize(
    "layer, input_shape, expected",
    [
        (lambda: Highway(16), (16,), 16 * 2 * 16),
        (lambda: Highway(16), (3, 16), 3 * 16 * 2 * 16),
        (lambda: Maxout(8, 3), (10,), 10 * 8 * 3),
        (lambda: WeightNormDense(7), (5,), 5 * 7),
        (lambda: WeightNormConv1D(6, 5, strides=2), (40, 2), 18 * 5 * 2 * 6),
        (lambda: WeightNormConv2D(8, 3, strides=2, padding="same"), (9, 9, 4), 25 * 9 * 4 * 8),
        (lambda: SqueezeExcite(ratio=4), (6, 6, 16), 16 * 4 + 4 * 16),
        (lambda: BasicBlock(16), (8, 8, 16), 2 * conv3x3(8, 16, 16)),
        (lambda: BasicBlock(32, stride=2, shortcut="B"), (8, 8, 16),
         conv3x3(4, 16, 32) + conv3x3(4, 32, 32) + 4 * 4 * 16 * 32),
    ],
)
def test_kzoo_layers(layer, input_shape, expected):
    assert single_layer_macs(layer(), input_shape) == expected


def test_nested_model_and_composite_layers():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(3)])

    class Pair(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.parts = {"a": keras.layers.Dense(2), "b": keras.layers.Dense(2)}

        def call(self, x):
            return self.parts["a"](x) + self.parts["b"](x)

    inputs = keras.Input((6,))
    outputs = Pair()(inner(inputs))
    assert count_macs(keras.Model(inputs, outputs)) == 6 * 4 + 4 * 3 + 2 * (3 * 2)


def test_layers_with_non_kernel_weights_count_zero():
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.PReLU()(inputs)  # alpha has shape (4, 4, 3) but is no kernel
    assert count_macs(keras.Model(inputs, x)) == 0


class Bilinear(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], input_shape[-1]))

    def call(self, x):
        return keras.ops.sum(keras.ops.matmul(x, self.w) * x, axis=-1, keepdims=True)


def test_unknown_layer_with_kernel_is_not_ignored():
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3)(Bilinear(name="mystery")(inputs)))
    with pytest.raises(ValueError, match="mystery.*Bilinear"):
        count_macs(model)
    with pytest.warns(UserWarning, match="mystery"):
        assert count_macs(model, strict=False) == 3


def test_bad_input():
    with pytest.raises(ValueError, match="not built"):
        count_macs(keras.Sequential([keras.layers.Dense(3)]))
    inputs = keras.Input((None, None, 3))
    with pytest.raises(ValueError, match="fixed sizes"):
        count_macs(keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs)))
    with pytest.raises(ValueError, match="model"):
        count_macs("resnet20")


def test_counting_leaves_the_model_unchanged(rng):
    model = kzoo.create_model("se_resnet20", classes=10)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x))
    names = [w.path for w in model.weights]
    count_macs(model)
    assert [w.path for w in model.weights] == names
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), before)


# ---- model_info, the table and the CLI -----------------------------------------------------------


def test_model_info_by_name():
    info = model_info("resnet20")
    assert info["name"] == "resnet20"
    assert info["family"] == "resnet"
    assert "1512.03385" in info["paper"]
    assert info["trainable_params"] == 269_722
    assert info["non_trainable_params"] == 2 * (16 * 7 + 32 * 6 + 64 * 6)  # BN moving mean + var
    assert info["macs"] == RESNET20_MACS and info["flops"] == 2 * RESNET20_MACS
    assert info["input_shape"] == (32, 32, 3) and info["output_shape"] == (10,)
    assert info["published"] == {"cifar10_error": 8.75}
    assert info["build_kwargs"] == {"classes": 10}


def test_model_info_classes_and_built_models():
    info = model_info("resnet20", classes=100)
    assert info["output_shape"] == (100,)
    assert info["trainable_params"] == 269_722 + 64 * 90 + 90
    assert info["macs"] == resnet20_macs(classes=100)
    assert default_classes(get_entry("resnet50")) == 1000
    assert default_classes(get_entry("plain_mlp")) == 10
    model = kzoo.create_model("plain_mlp", classes=3, input_shape=(64,))
    info = model_info(model)
    assert (info["name"], info["family"], info["macs"]) == ("plain_mlp", "plain", 64 * 256 + 2 * 256 * 256 + 256 * 3)
    inputs = keras.Input((2,))
    info = model_info(keras.Model(inputs, keras.layers.Dense(1)(inputs), name="mine"))
    assert (info["name"], info["family"], info["published"], info["macs"]) == ("mine", None, {}, 2)


def test_model_info_bad_input():
    with pytest.raises(ValueError, match="resnet20"):
        model_info("resnet_20")
    with pytest.raises(ValueError, match="builder arguments"):
        model_info(kzoo.create_model("plain_mlp", classes=2), classes=3)
    with pytest.raises(ValueError, match="name_or_model"):
        model_info(20)


def test_format_info():
    text = format_info(model_info("plain_mlp", input_shape=(64,)))
    macs = 64 * 256 + 2 * 256 * 256 + 256 * 10  # three hidden Dense layers of 256, then 10 classes
    assert f"MACs:                 {macs:,} (150k)" in text
    assert "published:            -" in text


def test_formatting():
    assert format_published({"cifar10_error": 4.0, "imagenet_top1_error": 22.626}) == (
        "CIFAR-10 4.00%; ImageNet top-1 22.63%"
    )
    assert format_published({"uci121_avg_rank_diff": -0.756}) == "UCI-121 average rank difference -0.756"
    assert format_published({}) == ""
    assert [human(n) for n in (999, 1_000, 40_551_040, 4_089_184_256)] == ["999", "1k", "40.6M", "4.09G"]


def test_model_table():
    table = model_table("resnet20", progress=False).splitlines()
    assert table[0] == "| Model | Input | Params | MACs | Paper | Published error |"
    assert table[1] == "|---|---|---|---|---|---|"
    assert table[2] == (
        "| `resnet20` | 32×32×3 | 269,722 | 40.6M | He et al. 2016 "
        "[arXiv:1512.03385](https://arxiv.org/abs/1512.03385) | CIFAR-10 8.75% |"
    )
    assert len(table) == 3
    rows = model_table("*plain_mlp", progress=False).splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == ["| `deep_plain_mlp`", "| `plain_mlp`"]
    assert rows[1].startswith("| `plain_mlp` | 784 | 335,114 | 334k | Glorot & Bengio 2010 | –")
    with pytest.raises(ValueError, match="pattern"):
        model_table("no_such_model*", progress=False)


def test_cli_info_and_table(capsys, tmp_path):
    assert main(["info", "resnet20", "--classes", "100"]) == 0
    out = capsys.readouterr().out
    assert "trainable params:     275,572" in out and "output shape:         (100,)" in out
    assert main(["info", "plain_cnn", "--input-shape", "40,1"]) == 0
    assert "input shape:          (40, 1)" in capsys.readouterr().out
    assert main(["info", "resnet_20"]) == 2
    assert "Did you mean: resnet20" in capsys.readouterr().err
    path = tmp_path / "table.md"
    assert main(["table", "--pattern", "snn*", "--output", str(path), "--no-progress"]) == 0
    assert "| `snn_mlp` | 784 |" in path.read_text()
    with pytest.raises(SystemExit):
        main(["info", "resnet20", "--input-shape", "32x32"])


@pytest.mark.slow
def test_readme_model_table_is_what_kzoo_table_prints():
    """The README's table is generated, not typed: regenerate it and compare every row."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    start = lines.index("| " + " | ".join(COLUMNS) + " |")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    assert lines[start:end] == model_table(progress=False).splitlines()
