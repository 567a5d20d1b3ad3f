"""Facts about the machine a benchmark ran on: CPU, its bf16 support, library versions."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform

from kzoo.training.precision import cpu_flags, cpu_model, resolve_precision


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
