"""`kzoo bench`: kzoo's default training and serving paths timed against plain Keras and PyTorch.

Example:
    >>> from kzoo.bench import BenchConfig, run_bench, write_results
    >>> results = run_bench(BenchConfig(models=("resnet20",), steps=10, repeats=3))
    >>> write_results(results, "bench_results")
"""

from kzoo.bench.config import FRAMEWORKS, MODELS, BenchConfig, tiny
from kzoo.bench.report import format_markdown, write_results
from kzoo.bench.runner import run_bench

__all__ = ["FRAMEWORKS", "MODELS", "BenchConfig", "format_markdown", "run_bench", "tiny", "write_results"]
