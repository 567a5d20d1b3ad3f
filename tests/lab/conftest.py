"""The lab's real runs, shared: each lesson runs over its seeds at most once per test session.

Slow tests assert every lesson's claim on the numbers of its real configuration (smoke runs are
never evidence); the report test gathers the same runs into one page.
"""

import importlib

import pytest

from kzoo.lab._seeds import run_over_seeds


@pytest.fixture(scope="session")
def lab_run(tmp_path_factory):
    """`lab_run(lesson)` -> the lesson's aggregate over its seeds (runs it the first time);
    `lab_run.out` is the directory every lesson wrote into."""
    out = tmp_path_factory.mktemp("lab")
    done = {}

    def run(lesson):
        if lesson not in done:
            done[lesson] = run_over_seeds(importlib.import_module(f"kzoo.lab.{lesson}"), out)
        return done[lesson]

    run.out = out
    return run
