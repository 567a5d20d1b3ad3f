"""`BenchConfig`: what `kzoo bench` measures, validated before any worker starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# The models with a PyTorch twin in `kzoo.bench.torch_nets` (CIFAR shape, 10 classes).
MODELS = ("resnet20", "resnet56", "wrn_16_8", "densenet_bc_100_12")
# Every configuration the harness can time; "kzoo" is kzoo's default training path.
FRAMEWORKS = ("kzoo", "keras", "torch")


@dataclass
class BenchConfig:
    """Settings of one benchmark run.

    Args:
        models: names from `MODELS`.
        batch: training batch size (the issue's CIFAR protocol: 128).
        steps: training steps per round and configuration (the first of every round is not
            timed: it waits for the input pipeline to start); at most this many with `round_seconds`.
        round_seconds: if set, a model's step count is cut (to no fewer than 3) so that its slowest
            configuration's round takes about this long, judged from the warm-up steps.
        warmup: untimed training steps once per model and configuration (graph tracing, oneDNN
            kernel selection).
        repeats: rounds; each round runs every configuration once, alternating, so slow drifts of
            the machine's load hit all of them alike. Medians are over rounds.
        serving_batch: batch of the serving throughput measurement (256 in the issue).
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
        out_dir: where `bench.json` and `bench.md` are written.
        seed: seeds the synthetic data and the models.

    Example:
        >>> config = BenchConfig(models=("resnet20",), steps=10, repeats=3)
    """

    models: tuple[str, ...] = MODELS
    batch: int = 128
    steps: int = 20
    round_seconds: float | None = 6.0
    warmup: int = 3
    repeats: int = 3
    serving_batch: int = 256
    latency_calls: int = 20
    throughput_calls: int = 4
    image_size: int = 32
    frameworks: tuple[str, ...] = FRAMEWORKS
    serving: bool = True
    ablations: bool = False
    profile: bool = False
    profile_steps: int = 5
    out_dir: str = "bench_results"
    seed: int = 0

    def validate(self) -> BenchConfig:
        """Raise ValueError naming the first bad argument; return self when all are valid."""
        models = tuple(self.models)
        if not models or any(m not in MODELS for m in models) or len(set(models)) != len(models):
            raise ValueError(
                f"`models` must be distinct names from {', '.join(MODELS)}; received "
                f"models={self.models!r}."
            )
        frameworks = tuple(self.frameworks)
        if "kzoo" not in frameworks or any(f not in FRAMEWORKS for f in frameworks):
            raise ValueError(
                f"`frameworks` must include 'kzoo' and name only {', '.join(FRAMEWORKS)}; "
                f"received frameworks={self.frameworks!r}."
            )
        for name in ("batch", "steps", "repeats", "serving_batch", "latency_calls", "throughput_calls",
                     "profile_steps"):
            _positive_int(name, getattr(self, name))
        if self.steps < 2:
            raise ValueError(f"`steps` must be at least 2 (one is untimed); received steps={self.steps!r}.")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"`warmup` must be an integer >= 0; received warmup={self.warmup!r}.")
        if self.round_seconds is not None and (
            isinstance(self.round_seconds, bool)
            or not isinstance(self.round_seconds, (int, float))
            or not self.round_seconds > 0
        ):
            raise ValueError(
                f"`round_seconds` must be a number > 0 or None; received "
                f"round_seconds={self.round_seconds!r}."
            )
        _positive_int("image_size", self.image_size)
        if self.image_size < 4:
            raise ValueError(
                f"`image_size` must be at least 4 (two stride-2 stages); received "
                f"image_size={self.image_size!r}."
            )
        for name in ("serving", "ablations", "profile"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"`{name}` must be True or False; received {name}={getattr(self, name)!r}."
                )
        if not str(self.out_dir):
            raise ValueError("`out_dir` must be a non-empty path; received out_dir=''.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"`seed` must be an integer >= 0; received seed={self.seed!r}.")
        self.models, self.frameworks = models, frameworks
        return self

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["models"], data["frameworks"] = list(self.models), list(self.frameworks)
        return data


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
    )
    return BenchConfig(**{**base, **overrides})


def _positive_int(name, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; received {name}={value!r}.")
