"""kzoo bench: configuration checks, the PyTorch twins' parameter counts, the harness's JSON."""

import json

import pytest

from kzoo.bench import MODELS, BenchConfig, tiny
from kzoo.bench.command import config_from_args
from kzoo.bench.config import CURVE_MODELS
from kzoo.bench.stats import summarize
from kzoo.cli import build_parser
from kzoo.registry import create_model
from tests.helpers import count_trainable


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"models": ("resnet21",)}, "models must be distinct names"),
        ({"models": ()}, "models must be distinct names"),
        ({"frameworks": ("keras",)}, "frameworks must include kzoo"),
        ({"steps": 1}, "steps must be an integer >= 2"),
        ({"round_seconds": -1}, "round_seconds must be >= 0; received round_seconds=-1"),
        ({"batch": 0}, "batch must be a positive integer; received batch=0"),
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"image_size": 3}, "image_size must be an integer >= 4"),
    ],
)
def test_bad_bench_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BenchConfig(**kwargs).validate()


def test_command_line_options_reach_the_config(tmp_path):
    args = build_parser().parse_args(
        ["bench", "--models", "resnet56,wrn_16_8", "--steps", "7", "--repeats", "2",
         "--batch", "64", "--no-serving", "--out", str(tmp_path)]
    )
    config = config_from_args(args)
    assert config.models == ("resnet56", "wrn_16_8") and config.steps == 7
    assert config.repeats == 2 and config.batch == 64 and config.serving is False
    assert config.frameworks == ("kzoo", "keras", "torch") and config.out_dir == str(tmp_path)
    small = config_from_args(build_parser().parse_args(["bench", "--tiny"]))
    assert small.image_size == 8 and small.models == ("resnet20",)
    assert BenchConfig(round_seconds=0).validate().round_seconds is None  # 0: always --steps
    with pytest.raises(ValueError, match="models must be distinct names"):
        config_from_args(build_parser().parse_args(["bench", "--models", "resnet21"]))


def test_profile_options_reach_the_config(tmp_path):
    args = build_parser().parse_args(
        ["bench", "--profile", "--profile-steps", "3", "--throughput-calls", "6"]
    )
    config = config_from_args(args)
    assert config.profile is True and config.profile_steps == 3 and config.throughput_calls == 6
    assert config_from_args(build_parser().parse_args(["bench"])).profile is False
    with pytest.raises(ValueError, match="profile_steps must be a positive integer"):
        BenchConfig(profile_steps=0).validate()


def test_op_type_table_sums_self_time_by_type_without_idle():
    from kzoo.bench.op_profile import op_type_table

    cols = [{"id": i} for i in ("type", "operation", "occurrences", "total_self_time")]
    rows = [
        ("IDLE", "IDLE", 0, 9e6),
        ("Conv2D", "a/Conv2D", 4, 3e6),
        ("Conv2D", "b/Conv2D", 2, 1e6),
        ("Relu", "a/Relu", 3, 0.5e6),
        ("Cast", "a/Cast", 1, 0.25e6),
        ("AddN", "a/AddN", 1, 0.25e6),
    ]
    table = [{"cols": cols, "rows": [{"c": [{"v": v} for v in r]} for r in rows]}]
    out = op_type_table(table, top=2)
    assert [r["type"] for r in out] == ["Conv2D", "Relu", "(other)"]
    assert [r["self_seconds"] for r in out] == pytest.approx([4.0, 0.5, 0.5])
    assert [r["share"] for r in out] == pytest.approx([0.8, 0.1, 0.1])
    assert [r["count"] for r in out] == [6, 3, 2]


def test_profile_without_xprof_still_writes_the_trace(tmp_path, monkeypatch):
    import sys

    import tensorflow as tf

    from kzoo.bench.op_profile import profile_steps

    monkeypatch.setitem(sys.modules, "xprof.convert", None)  # import fails as if not installed
    x = tf.random.normal((64, 64))
    result = profile_steps(lambda n: [tf.matmul(x, x).numpy() for _ in range(n)], 2, tmp_path / "t")
    assert result["op_types"] is None and "kzoo[profile]" in result["note"]
    assert list((tmp_path / "t").rglob("*.xplane.pb"))


def test_summaries_report_median_and_spread():
    s = summarize([90.0, 120.0, 100.0])
    assert s["median"] == 100.0 and s["min"] == 90.0 and s["max"] == 120.0
    assert s["spread"] == pytest.approx(0.3)
    assert summarize([5.0])["spread"] == 0.0


# wrn_16_8 (11M parameters), densenet_bc_100_12 and resnet110 / resnet1202 (the --curves
# depths) take seconds to build in Keras.
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n not in ("resnet20", "resnet56") else n
     for n in dict.fromkeys(MODELS + CURVE_MODELS)],
)
def test_pytorch_twins_have_kzoo_parameter_counts(name):
    torch_nets = pytest.importorskip("kzoo.bench.torch_nets", reason="needs torch (.[bench])")
    kzoo_count = count_trainable(create_model(name, classes=10))
    assert torch_nets.trainable_params(torch_nets.torch_model(name)) == kzoo_count


def test_bench_compiles_the_model_as_train_does(tmp_path):
    from kzoo.bench.keras_phases import compile_like_train
    from kzoo.training import TrainConfig, train

    # A 3-layer plain CNN: what is compared is the compile step, not the network.
    small = {"depth": 3, "width": 8}
    config = TrainConfig(
        model="plain_cnn", model_kwargs=small, dataset="digits", run_dir=str(tmp_path / "run"),
        epochs=1, max_steps_per_epoch=1, verbose=0, tensorboard=False,
    )
    trained = train(config).model
    model = create_model("plain_cnn", classes=10, input_shape=(8, 8, 1), **small)
    mirrored = compile_like_train(model, config, 1)

    def optimizer_config(model):
        cfg = model.optimizer.get_config()
        cfg.pop("name", None)
        return cfg

    assert type(mirrored.optimizer) is type(trained.optimizer)
    assert optimizer_config(mirrored) == optimizer_config(trained)
    assert mirrored.loss.get_config() == trained.loss.get_config()
    assert [m.name for m in mirrored.metrics] == [m.name for m in trained.metrics]
    assert mirrored.jit_compile == trained.jit_compile
    assert mirrored.steps_per_execution == trained.steps_per_execution


@pytest.mark.slow
def test_tiny_run_writes_well_formed_json(tmp_path):
    from kzoo.cli import main

    assert main(["bench", "--tiny", "--profile", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["format"] == "kzoo-bench" and results["config"]["models"] == ["resnet20"]
    assert len(results["load_average"]["start"]) == 3 and len(results["load_average"]["end"]) == 3
    for dtype in ("float32", "bfloat16"):
        assert results["matmul_peak_gflops"]["best_at_start"][dtype] > 0
        assert results["matmul_peak_gflops"]["best_at_end"][dtype] > 0
    (model,) = results["models"]
    assert model["trainable_params"] == count_trainable(create_model("resnet20", classes=10))
    expected = ["kzoo default", "plain Keras"]
    if results["torch_available"]:
        expected += ["PyTorch fp32", "PyTorch bf16 autocast"]
    assert list(model["training"]) == expected
    for entry in model["training"].values():
        assert entry["images_per_second"]["median"] > 0 and entry["step_ms"]["median"] > 0
        assert len(entry["images_per_second"]["runs"]) == tiny().repeats
        assert 0 < entry["utilisation"] and entry["peak_memory_mb"] > 0
    serving = model["serving"]
    assert "kzoo SavedModel" in serving and "Keras model.predict" in serving
    assert "kzoo TFLite (XNNPACK)" in serving  # the TFLite file the bench's export wrote
    assert serving["kzoo SavedModel, 1 thread"]["intra_op_threads"] == "1"  # started with it
    assert serving["kzoo SavedModel"]["graph_latency_ms_batch1"]["median"] > 0
    for entry in serving.values():
        assert entry["latency_ms_batch1"]["median"] > 0 and entry["images_per_second"]["median"] > 0
        tail = entry["latency_ms_batch1_percentiles"]  # every call of every round
        assert tail["calls"] == tiny().latency_calls * tiny().repeats
        assert 0 < tail["p50"] <= tail["p99"]
    ratios = model["ratios"]
    assert ratios["kzoo_vs_plain_keras"]["target"] == 1.5
    assert isinstance(ratios["kzoo_vs_plain_keras"]["met"], bool)
    if results["torch_available"]:
        assert ratios["kzoo_vs_best_torch"]["best_torch"].startswith("PyTorch")
        assert "savedmodel_vs_best_torch_eval" in ratios
        assert ratios["tflite_latency_vs_best_torch_eval"]["target"] == 1.0
        assert ratios["savedmodel_1_thread_latency_vs_best_torch_eval"]["value"] > 0
    markdown = (tmp_path / "bench.md").read_text()
    assert "| resnet20 | kzoo default |" in markdown and "## Ratios" in markdown
    assert "| resnet20 | kzoo TFLite (XNNPACK) |" in markdown
    assert "resnet20, kzoo SavedModel: batch-1 call " in markdown and "own graph" in markdown
    profile = model["profile"]
    assert profile["steps"] == tiny().profile_steps
    assert list((tmp_path / "profile" / "resnet20").rglob("*.xplane.pb"))
    types = {row["type"] for row in profile["op_types"]}
    assert any("Conv2D" in t for t in types)
    assert sum(row["share"] for row in profile["op_types"]) == pytest.approx(1.0)
    assert "## Profile of kzoo's default training step" in markdown
    kernels = model["kernels"]  # oneDNN's verbose log of kzoo's default step, in its own worker
    assert kernels["isa"] and kernels["version"].startswith("oneDNN v"), kernels
    assert kernels["executions"] > 0 and (tmp_path / "kernels" / "resnet20.log").is_file()
    assert "convolution" in {row["primitive"] for row in kernels["kernels"]}
    assert "## oneDNN kernels of kzoo's default training step" in markdown


@pytest.mark.slow
def test_without_torch_the_keras_parts_still_run(tmp_path, monkeypatch, capsys):
    import importlib.util

    from kzoo.bench import runner

    real = importlib.util.find_spec
    monkeypatch.setattr(
        runner.importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    results = runner.run_bench(
        tiny(frameworks=("kzoo", "torch"), serving=False, kernel_steps=0, out_dir=str(tmp_path)),
        log=lambda _: None,
    )
    assert "PyTorch is not installed" in capsys.readouterr().err
    assert results["torch_available"] is False and "kzoo[bench]" in results["notes"][0]
    (model,) = results["models"]
    assert list(model["training"]) == ["kzoo default"]
    assert "torch" not in results["matmul_peak_gflops"]
