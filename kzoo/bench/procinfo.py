"""Process-level measurements every worker takes: load average and peak memory per phase.

Standard library only: the PyTorch worker imports this file by path, without the kzoo package
(which would load TensorFlow into the PyTorch process and count its memory against PyTorch).
"""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (runnable processes; above the core count = contention)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def reset_peak_memory() -> str:
    """Restart the resident-set high-water mark; returns how peaks are measured ("phase"/"process").

    Linux resets VmHWM when "5" is written to /proc/self/clear_refs; elsewhere the peak is the
    process's since it started.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return "phase"
    except OSError:
        return "process"


def peak_memory_mb() -> float:
    """The resident-set high-water mark in MiB (since the last reset, where resets work)."""
    try:
        for row in Path("/proc/self/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (1024 * 1024 if platform.system() == "Darwin" else 1024)
