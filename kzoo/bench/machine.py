"""Facts about the machine a benchmark ran on: CPU, its bf16 support, library versions."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
from pathlib import Path

from kzoo.training.precision import cpu_flags, resolve_precision


def cpu_model() -> str:
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> dict:
    versions = {}
    for package in ("tensorflow", "keras", "numpy", "torch"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "auto_precision": resolve_precision("auto"),
        "python": platform.python_version(),
        "versions": versions,
    }
