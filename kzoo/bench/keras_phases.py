"""The TensorFlow side of the benchmark: kzoo's default training path, plain Keras, serving, peak.

Each class holds one model between calls, so the runner can alternate configurations round by
round; every `train_round` / `serve_round` returns plain numbers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf


class StepTimer(keras.callbacks.Callback):
    """Timestamps at the end of every training batch (the first one waits for the pipeline)."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())


def synthetic_arrays(n_train, n_test, image_size, classes, seed) -> dict:
    """Random uint8 images and labels laid out like `kzoo.data.load_arrays`' result."""
    rng = np.random.default_rng(seed)
    shape = (image_size, image_size, 3)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        # Balanced classes, so a stratified validation hold-out always exists.
        "y_train": rng.permutation(np.arange(n_train) % classes).astype(np.int64),
        "x_test": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "y_test": rng.permutation(np.arange(n_test) % classes).astype(np.int64),
    }


def compile_like_train(model, config, steps_per_epoch: int):
    """Compile `model` exactly as `kzoo.training.train(config)` does, without its run directory."""
    from kzoo.training.engine import compile_for_training

    return compile_for_training(config, model, steps_per_epoch)


def _images_per_second(stamps, batch) -> tuple[float, float]:
    """(images/s, median step ms) over the steps after the first."""
    diffs = np.diff(stamps)
    return float(len(diffs) * batch / (stamps[-1] - stamps[0])), float(np.median(diffs) * 1e3)


class KzooDefault:
    """kzoo's default training path: `TrainConfig` defaults, its precision policy, determinism,
    the `kzoo.data` pipeline (standardise + CIFAR pad/crop/flip, parallel map, prefetch) fed with
    synthetic CIFAR-shaped uint8 images, and `Model.fit` compiled as `train` compiles."""

    config_name = "kzoo default"

    def setup(self, name, batch, steps, warmup, image_size, seed, overrides=None):
        import kzoo.data
        from kzoo.registry import create_model
        from kzoo.training import engine
        from kzoo.training.config import TrainConfig
        from kzoo.training.precision import resolve_precision

        config = TrainConfig(
            model=name, dataset="cifar10", run_dir="unused", batch_size=batch, **(overrides or {})
        )
        config.validate()
        self.policy = resolve_precision(config.mixed_precision)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        spec = kzoo.data.get_spec(config.dataset)
        n_train = int(np.ceil(batch * (max(steps, warmup) + 2) / (1 - config.validation_split)))
        n_train = max(n_train, 20 * spec.num_classes)
        arrays = synthetic_arrays(n_train, batch, image_size, spec.num_classes, seed)
        self.bundle = kzoo.data.bundle_from_arrays(
            spec,
            arrays,
            [str(i) for i in range(spec.num_classes)],
            batch_size=batch,
            validation_split=config.validation_split,
            seed=config.seed,
            augment=config.augment,
        )
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.policy)
        try:
            keras.utils.set_random_seed(config.seed)
            model = create_model(name, classes=spec.num_classes, input_shape=(image_size,) * 2 + (3,))
        finally:
            keras.mixed_precision.set_global_policy(previous)
        self.model = compile_like_train(model, config, self.bundle.steps_per_epoch)
        self.data = self.bundle.train_epochs(0, 10**6).map(engine.one_hot_labels(spec.num_classes))
        self.batch, self.config = batch, config
        self.image_size = image_size
        return {
            "policy": self.policy,
            "deterministic": config.deterministic,
            "float32_convolutions_round_to_bfloat16": float32_convolutions_round_to_bfloat16(),
            # What the process was started with (the ablations' and serving workers' settings).
            "onednn_fpmath_mode": os.environ.get("ONEDNN_DEFAULT_FPMATH_MODE"),
            "intra_op_threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
            "warmup_step_ms": _warm_up(self._fit, warmup),
            **_model_facts(model),
        }

    def _fit(self, steps):
        timer = StepTimer()
        self.model.fit(self.data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
        return timer.stamps

    def train_round(self, steps):
        ips, step_ms = _images_per_second(self._fit(steps), self.batch)
        return {"images_per_second": ips, "step_ms": step_ms}

    def profile_round(self, steps, trace_dir):
        from kzoo.bench.op_profile import profile_steps

        return profile_steps(self._fit, steps, trace_dir)

    def setup_serving(self, serving_batch, seed, tflite=False):
        from kzoo.export.saved_model import export_saved_model

        self._export_root = tempfile.mkdtemp(prefix="kzoo-bench-")
        info = self.bundle.info
        path = export_saved_model(
            self.model,
            "bench",
            root=self._export_root,
            mean=info.mean,
            std=info.std,
            raw_dtype="uint8",
            tflite=tflite,  # `TFLiteServing` serves it
        )
        self.version_dir = path
        self.signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        rng = np.random.default_rng(seed)
        shape = (self.image_size, self.image_size, 3)
        self.one = tf.constant(rng.integers(0, 256, (1, *shape), dtype=np.uint8))
        self.many = tf.constant(rng.integers(0, 256, (serving_batch, *shape), dtype=np.uint8))
        # The model's own graph on an already normalised image: what the signature adds around it
        # (the raw-input cast and normalisation, the signature call) is the difference.
        model = self.model
        self.graph = tf.function(lambda x: model(x, training=False), autograph=False)
        self.one_normalised = tf.cast(self.one, tf.float32) / 255.0
        for x in (self.one, self.many):
            self.signature(inputs=x)["class_id"].numpy()
        self.graph(self.one_normalised).numpy()
        return {"saved_model": "serving_default of an export_saved_model version"}

    def serve_round(self, latency_calls, throughput_calls):
        def call(x):
            return self.signature(inputs=x)["class_id"].numpy()

        result = _serve(call, self.one, self.many, latency_calls, throughput_calls)
        graph = _seconds_per_call(lambda x: self.graph(x).numpy(), self.one_normalised, latency_calls)
        result["graph_latency_ms"] = float(np.median(graph) * 1e3)
        return result

    def close(self):
        if getattr(self, "_export_root", None):
            shutil.rmtree(self._export_root, ignore_errors=True)


class TFLiteServing:
    """The TFLite model `KzooDefault.setup_serving` exported (`--tflite`; a bfloat16 model is
    converted from its float32 twin), run by TFLite's interpreter with XNNPACK on every core: one
    interpreter per batch size, so no call resizes its tensors."""

    config_name = "kzoo TFLite"

    def __init__(self, default: KzooDefault):
        self.default = default

    def setup_serving(self, serving_batch, seed):
        from kzoo.export.tflite import TFLITE_FILE, interpreter_threads, make_runner

        flatbuffer = (self.default.version_dir / TFLITE_FILE).read_bytes()
        self.one, self.many = self.default.one.numpy(), self.default.many.numpy()
        self.runners = {len(x): make_runner(flatbuffer) for x in (self.one, self.many)}
        for x in (self.one, self.many):
            self.runners[len(x)](inputs=x)
        return {"threads": interpreter_threads(), "bytes": len(flatbuffer)}

    def serve_round(self, latency_calls, throughput_calls):
        def call(x):
            return self.runners[len(x)](inputs=x)["class_id"]

        return _serve(call, self.one, self.many, latency_calls, throughput_calls)

    def close(self):
        pass


class PlainKeras:
    """Keras as its tutorials write it: float32, `model.fit(x, y)` on NumPy arrays, defaults
    (sparse cross-entropy, accuracy, no tf.data, no mixed precision, `jit_compile="auto"`) with the
    same SGD + momentum as the other configurations; serving is `model.predict`."""

    config_name = "plain Keras"

    def setup(self, name, batch, steps, warmup, image_size, seed):
        from kzoo.registry import create_model

        keras.mixed_precision.set_global_policy("float32")
        model = create_model(name, classes=10, input_shape=(image_size,) * 2 + (3,))
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        arrays = synthetic_arrays(batch * max(steps, warmup, 1), batch, image_size, 10, seed)
        self.x = arrays["x_train"].astype("float32") / 255.0
        self.y = arrays["y_train"]
        self.model, self.batch, self.image_size = model, batch, image_size
        return {"policy": "float32", "warmup_step_ms": _warm_up(self._fit, warmup), **_model_facts(model)}

    def _fit(self, steps):
        timer = StepTimer()
        n = steps * self.batch
        self.model.fit(
            self.x[:n], self.y[:n], batch_size=self.batch, epochs=1, verbose=0, callbacks=[timer]
        )
        return timer.stamps

    def train_round(self, steps):
        ips, step_ms = _images_per_second(self._fit(steps), self.batch)
        return {"images_per_second": ips, "step_ms": step_ms}

    def setup_serving(self, serving_batch, seed):
        rng = np.random.default_rng(seed)
        shape = (self.image_size, self.image_size, 3)
        self.one = rng.random((1, *shape), dtype=np.float32)
        self.many = rng.random((serving_batch, *shape), dtype=np.float32)
        self.serving_batch = serving_batch
        for x in (self.one, self.many):
            self.model.predict(x, batch_size=serving_batch, verbose=0)
        return {}

    def serve_round(self, latency_calls, throughput_calls):
        def call(x):
            return self.model.predict(x, batch_size=self.serving_batch, verbose=0)

        return _serve(call, self.one, self.many, latency_calls, throughput_calls)

    def close(self):
        pass


def _warm_up(fit, steps):
    """Run `steps` untimed steps; the median step time after the first two (ms), if there are any."""
    if not steps:
        return None
    diffs = np.diff(fit(steps))[1:]
    return float(np.median(diffs) * 1e3) if len(diffs) else None


def _seconds_per_call(call, x, calls) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - start)
    return times


def _serve(call, one, many, latency_calls, throughput_calls) -> dict:
    latencies = _seconds_per_call(call, one, latency_calls)
    batch_times = _seconds_per_call(call, many, throughput_calls)
    return {
        "latency_ms": float(np.median(latencies) * 1e3),
        "latencies_ms": [float(t * 1e3) for t in latencies],
        "images_per_second": float(len(many) / np.median(batch_times)),
    }


def _model_facts(model) -> dict:
    from kzoo.counting import count_macs

    return {
        "trainable_params": int(sum(np.prod(v.shape) for v in model.trainable_variables)),
        "macs": int(count_macs(model)),
    }


def float32_convolutions_round_to_bfloat16() -> bool:
    """Whether this process's float32 convolutions round their inputs to bfloat16 inside the
    kernel (oneDNN's `ONEDNN_DEFAULT_FPMATH_MODE=BF16`, where the CPU's kernels honour it).

    1 + 2^-12 is exact in float32 and rounds to 1 in bfloat16 (8 significant bits), so a 3x3
    convolution over 16 such channels gives 144 exactly with rounded inputs and 144.07 without.
    """
    v = np.float32(1 + 2**-12)
    y = tf.nn.conv2d(tf.fill((128, 32, 32, 16), v), tf.fill((3, 3, 16, 16), v), 1, "SAME")
    centre = float(y[0, 5, 5, 0])
    return abs(centre - 144.0) < abs(centre - 144.0 * float(v) ** 2)


def verbose_mark() -> str:
    """Run one matmul of a shape nothing else uses, so oneDNN's verbose log shows where the steps
    after it begin; return the shape as the log writes it."""
    tf.matmul(tf.ones((3, 5)), tf.ones((5, 7))).numpy()
    return "3x5:5x7"


def matmul_peak(size=2048, repeats=5) -> dict:
    """Best GFLOP/s of a square TensorFlow matmul in float32 and bfloat16 (2 n^3 FLOPs each)."""
    peaks = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.random.normal((size, size), dtype=tf.float32)
        a = tf.cast(a, dtype)
        b = tf.identity(a)
        tf.matmul(a, b).numpy()
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            tf.matmul(a, b).numpy()
            best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
        peaks[dtype] = best
    return peaks
