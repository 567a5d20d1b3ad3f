"""The PyTorch references: CPU, channels_last, float32 and bfloat16 autocast, train and eval.

Imported by the PyTorch worker without the kzoo package (see `procinfo`), hence the plain import
of its sibling `torch_nets`.
"""

from __future__ import annotations

import contextlib
import time

import torch

if __package__:
    from kzoo.bench.torch_nets import torch_model, trainable_params
else:  # the PyTorch worker imports this file as a top-level module
    from torch_nets import torch_model, trainable_params

PRECISIONS = ("float32", "bfloat16")


def _autocast(precision):
    if precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


class TorchReference:
    """One PyTorch twin of a kzoo model in one precision, trained with SGD + momentum 0.9."""

    def __init__(self, precision):
        if precision not in PRECISIONS:
            raise ValueError(
                f"`precision` must be one of {PRECISIONS}; received precision={precision!r}."
            )
        self.precision = precision
        self.config_name = f"PyTorch {'fp32' if precision == 'float32' else 'bf16 autocast'}"

    def setup(self, name, batch, steps, warmup, image_size, seed):
        torch.manual_seed(seed)
        self.model = torch_model(name).to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.loss = torch.nn.CrossEntropyLoss()
        shape = (batch, 3, image_size, image_size)
        self.x = torch.rand(shape).contiguous(memory_format=torch.channels_last)
        self.y = torch.randint(0, 10, (batch,))
        self.batch, self.image_size = batch, image_size
        warmup_ms = None
        if warmup:
            stamps = self._steps(warmup)
            diffs = [b - a for a, b in zip(stamps, stamps[1:], strict=False)][2:]
            warmup_ms = _median(diffs) * 1e3 if diffs else None
        return {
            "warmup_step_ms": warmup_ms,
            "policy": self.precision,
            "threads": torch.get_num_threads(),
            "trainable_params": trainable_params(self.model),
        }

    def _steps(self, steps):
        self.model.train()
        stamps = [time.perf_counter()]
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            with _autocast(self.precision):
                loss = self.loss(self.model(self.x), self.y)
            loss.backward()
            self.optimizer.step()
            stamps.append(time.perf_counter())
        return stamps

    def train_round(self, steps):
        # Steps run synchronously on the CPU, so the stamps bracket each step; the first step is
        # left out like the Keras configurations' first (pipeline start-up) step.
        stamps = self._steps(steps)[1:]
        diffs = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        return {
            "images_per_second": len(diffs) * self.batch / (stamps[-1] - stamps[0]),
            "step_ms": _median(diffs) * 1e3,
        }

    def setup_serving(self, serving_batch, seed):
        generator = torch.Generator().manual_seed(seed)
        shape = (3, self.image_size, self.image_size)
        self.one = torch.rand((1, *shape), generator=generator).contiguous(
            memory_format=torch.channels_last
        )
        self.many = torch.rand((serving_batch, *shape), generator=generator).contiguous(
            memory_format=torch.channels_last
        )
        self.model.eval()
        for x in (self.one, self.many):
            self._predict(x)
        return {}

    def _predict(self, x):
        with torch.inference_mode(), _autocast(self.precision):
            return self.model(x).argmax(1)

    def serve_round(self, latency_calls, throughput_calls):
        latencies, batch_times = [], []
        for _ in range(latency_calls):
            start = time.perf_counter()
            self._predict(self.one)
            latencies.append(time.perf_counter() - start)
        for _ in range(throughput_calls):
            start = time.perf_counter()
            self._predict(self.many)
            batch_times.append(time.perf_counter() - start)
        return {
            "latency_ms": _median(latencies) * 1e3,
            "latencies_ms": [t * 1e3 for t in latencies],
            "images_per_second": len(self.many) / _median(batch_times),
        }

    def close(self):
        pass


def matmul_peak(size=2048, repeats=5) -> dict:
    """Best GFLOP/s of a square PyTorch matmul in float32 and bfloat16 (2 n^3 FLOPs each)."""
    peaks = {}
    for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        a = torch.randn(size, size).to(dtype)
        b = a.clone()
        torch.matmul(a, b)
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = max(best, 2 * size**3 / (time.perf_counter() - start) / 1e9)
        peaks[name] = best
    return peaks
