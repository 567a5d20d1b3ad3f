"""Where and with what a lab report was made: date, machine, CPU extensions, library versions."""

from __future__ import annotations

import datetime
import os
import platform


def environment() -> dict:
    """The facts a reader needs to compare two lab reports.

    Example:
        >>> sorted(environment())
        ['cores', 'cpu', 'cpu_flags', 'date', 'platform', 'versions']
    """
    from kzoo.export.metadata import library_versions
    from kzoo.training.precision import cpu_flags, cpu_model

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "platform": platform.platform(terse=True),
        "versions": library_versions(),
    }
