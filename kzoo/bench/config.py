"""`BenchConfig`: what `kzoo bench` measures, validated before any worker starts."""

from __future__ import annotations

from dataclasses import dataclass

from kzoo.utils.settings import Settings, setting

# The models with a PyTorch twin in `kzoo.bench.torch_nets` (CIFAR shape, 10 classes).
MODELS = ("resnet20", "resnet56", "wrn_16_8", "densenet_bc_100_12")
# The depths of `--curves` (CIFAR ResNets, each with a PyTorch twin).
CURVE_MODELS = ("resnet20", "resnet56", "resnet110", "resnet1202")
# Every configuration the harness can time; "kzoo" is kzoo's default training path.
FRAMEWORKS = ("kzoo", "keras", "torch")


@dataclass
class BenchConfig(Settings):
    """Settings of one benchmark run, declared once (`kzoo bench --help` shows the same texts).

    Args:
        models: names from `MODELS`.
        batch: training batch size (the CIFAR protocol: 128).
        steps: training steps per round and configuration (the first of every round is not
            timed: it waits for the input pipeline to start); at most this many with `round_seconds`.
        round_seconds: if set, a model's step count is cut (to no fewer than 3) so that its slowest
            configuration's round takes about this long, judged from the warm-up steps (0 or
            None: always `steps`).
        warmup: untimed training steps once per model and configuration (graph tracing, oneDNN
            kernel selection).
        repeats: rounds; each round runs every configuration once, alternating, so slow drifts of
            the machine's load hit all of them alike. Medians are over rounds.
        serving_batch: batch of the serving throughput measurement.
        latency_calls: timed batch-1 calls per round for the serving latency.
        throughput_calls: timed `serving_batch` calls per round; their median is the round's
            throughput.
        image_size: height and width of the synthetic images (32 = CIFAR).
        frameworks: which of `FRAMEWORKS` to run ("torch" is skipped with a message when PyTorch
            is not installed).
        serving: measure serving too.
        ablations: also time kzoo's default path with float32 instead of its mixed policy, and
            without op determinism (each in its own process), to show what each setting costs.
        profile: after its timed rounds, trace `profile_steps` more steps of kzoo's default path
            per model with TensorFlow's profiler into `out_dir/profile/<model>` and report the
            self time by op type (the summary needs the `[profile]` extra).
        profile_steps: steps traced per model.
        kernel_steps: training steps per model (at least 2 run) repeated after warm-up in a
            separate kzoo worker with `ONEDNN_VERBOSE=1`, whose log names the ISA oneDNN dispatched
            to and each primitive's implementation (`kzoo.bench.kernels`); 0 skips it.
        curves: also time training (img/s) and peak memory against batch size (`curve_batches`,
            ResNet-20) and depth (`curve_depths`, at `curve_depth_batch`) for kzoo's default path and PyTorch
            in the matching precision, a fresh pair of processes per point (so each peak is its
            own), and draw them into `out_dir/curves.png` (`kzoo.bench.curves`).
        curve_batches: training batch sizes of the batch curve.
        curve_depths: models of the depth curve, from `CURVE_MODELS`.
        curve_depth_batch: batch of the depth curve (32: at batch 128 ResNet-1202 would need
            ~25 GB in kzoo and ~10 GB in PyTorch, and both processes of a point are alive at once).
        out_dir: where `bench.json` and `bench.md` are written.
        seed: seeds the synthetic data and the models.

    Example:
        >>> config = BenchConfig(models=("resnet20",), steps=10, repeats=3)
    """

    models: tuple[str, ...] = setting(MODELS, f"models to time, from {', '.join(MODELS)}",
                                      group="model", metavar="MODEL")
    batch: int = setting(128, "training batch", group="optimisation", low=1)
    steps: int = setting(20, "steps per round and configuration (at most, with --round-seconds)",
                         group="run", low=2)
    round_seconds: float | None = setting(
        6.0, "cut a model's steps so its slowest round takes about this long (0 = always --steps)",
        group="run", low=0.0, metavar="SECONDS",
    )
    warmup: int = setting(3, "untimed steps per model", group="run", low=0)
    repeats: int = setting(3, "alternating rounds", group="run", low=1)
    serving_batch: int = setting(256, "serving throughput batch", group="run", low=1)
    latency_calls: int = setting(20, "batch-1 calls per round", group="run", low=1)
    throughput_calls: int = setting(4, "serving-batch calls per round", group="run", low=1)
    image_size: int = setting(32, "height and width of the synthetic images", group="data", low=4,
                              flag=None)
    frameworks: tuple[str, ...] = setting(
        FRAMEWORKS, "frameworks to time, from kzoo, keras, torch (kzoo is required)", group="run",
        metavar="NAME",
    )
    serving: bool = setting(True, "the serving measurements", group="run")
    ablations: bool = setting(
        False, "also time kzoo's path with float32 and without op determinism", group="run"
    )
    profile: bool = setting(
        False, "also trace kzoo's training steps with TensorFlow's profiler and report self time "
        "by op type (needs the [profile] extra for the summary)", group="run",
    )
    profile_steps: int = setting(5, "steps traced per model with --profile", group="run", low=1)
    kernel_steps: int = setting(
        2, "training steps of kzoo's default path per model run once more (after warm-up) in a "
        "separate process with oneDNN's verbose log on, to name the kernels and ISA it used "
        "(0 = none)",
        group="run", low=0,
    )
    curves: bool = setting(
        False, "also time training and peak memory against batch size and depth for kzoo and "
        "PyTorch (fresh processes per point) and draw them into curves.png", group="run",
    )
    curve_batches: tuple[int, ...] = setting(
        (32, 64, 128, 256, 512), "batch sizes of the batch curve (ResNet-20)", group="run",
        metavar="BATCH",
    )
    curve_depths: tuple[str, ...] = setting(
        CURVE_MODELS, f"models of the depth curve, from {', '.join(CURVE_MODELS)}", group="run",
        metavar="MODEL",
    )
    curve_depth_batch: int = setting(32, "batch of the depth curve", group="run", low=1)
    out_dir: str = setting("bench_results", "output directory", group="run", flag="--out",
                           metavar="DIR")
    seed: int = setting(0, "seed of the synthetic data and the models", group="run", low=0,
                        flag=None)

    def validate(self) -> BenchConfig:
        """Raise `SettingError` naming the first bad setting; return self when all are valid."""
        if self.round_seconds == 0:
            self.round_seconds = None
        self.validate_fields()
        models = tuple(self.models)
        if not models or any(m not in MODELS for m in models) or len(set(models)) != len(models):
            raise self.error("{models} must be distinct names from " + ", ".join(MODELS), "models")
        frameworks = tuple(self.frameworks)
        if "kzoo" not in frameworks or any(f not in FRAMEWORKS for f in frameworks):
            raise self.error(
                "{frameworks} must include kzoo and name only " + ", ".join(FRAMEWORKS),
                "frameworks",
            )
        batches = tuple(self.curve_batches)
        if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                              for b in batches) or len(set(batches)) != len(batches):
            raise self.error("{curve_batches} must be distinct whole numbers >= 1", "curve_batches")
        depths = tuple(self.curve_depths)
        if not depths or any(d not in CURVE_MODELS for d in depths) or len(set(depths)) != len(depths):
            raise self.error(
                "{curve_depths} must be distinct names from " + ", ".join(CURVE_MODELS),
                "curve_depths",
            )
        self.curve_batches, self.curve_depths = tuple(sorted(batches)), depths
        if not str(self.out_dir):
            raise self.error("{out_dir} must be a non-empty path", "out_dir")
        self.models, self.frameworks = models, frameworks
        return self


def tiny(**overrides) -> BenchConfig:
    """A configuration that exercises every phase in seconds (tests, smoke runs); not a measurement."""
    base = dict(
        models=("resnet20",),
        batch=8,
        steps=3,
        round_seconds=None,
        warmup=1,
        repeats=1,
        serving_batch=8,
        latency_calls=2,
        throughput_calls=1,
        image_size=8,
        profile_steps=2,
        kernel_steps=2,
        curve_batches=(4, 8),
        curve_depths=("resnet20", "resnet56"),
        curve_depth_batch=8,
    )
    return BenchConfig(**{**base, **overrides})
