"""Summaries of repeated measurements: the median and how far the repeats spread around it."""

from __future__ import annotations

import statistics


def summarize(values) -> dict:
    """`{"median", "min", "max", "spread", "runs"}` of positive measurements.

    `spread` is (max - min) / median: the machine's noise as a fraction of the value (0 for a
    single run).

    Example:
        >>> summarize([100.0, 110.0, 90.0])["spread"]
        0.2
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("`values` must hold at least one measurement; received none.")
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median if median else 0.0
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread": round(spread, 4),
        "runs": values,
    }


def step_times(stamps) -> list[float]:
    """Durations between consecutive timestamps (seconds)."""
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def percentiles(values, points=(50, 99)) -> dict:
    """`{"p50": ..., "p99": ..., "calls": n}` of single measurements pooled over rounds (linear
    interpolation between the nearest ranks, as NumPy's default).

    Example:
        >>> percentiles([1.0, 2.0, 3.0, 4.0, 100.0])["p50"]
        3.0
    """
    import numpy as np

    values = [float(v) for v in values]
    if not values:
        raise ValueError("`values` must hold at least one measurement; received none.")
    found = {f"p{p:g}": float(np.percentile(values, p)) for p in points}
    return {**found, "calls": len(values)}
