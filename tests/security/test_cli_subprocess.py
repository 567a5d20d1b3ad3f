"""Every case of the suite once more through the real command line: `python -m kzoo.cli` in its own
process (exit status, no traceback, one line on stderr, canaries), as a user would run it.

Slow: each case starts a Python process, most of them importing TensorFlow.
"""

from __future__ import annotations

import pytest

from . import (
    test_export_paths,
    test_export_run,
    test_info,
    test_keras_allowlist,
    test_keras_archive,
    test_keras_weights,
    test_predict_inputs,
)
from .conftest import run_cli_subprocess

pytestmark = pytest.mark.slow

_ids = {"ids": lambda f: f.__name__}
_KERAS = [*test_keras_archive.CASES, *test_keras_allowlist.CASES, *test_keras_weights.CASES]


@pytest.mark.parametrize("make", _KERAS, **_ids)
def test_kzoo_export_of_a_hostile_keras_file(make, tmp_path, genuine):
    run_cli_subprocess(make(tmp_path, genuine))


@pytest.mark.parametrize("make", test_export_paths.CASES, **_ids)
def test_kzoo_export_into_a_hostile_root(make, tmp_path, genuine, outside):
    run_cli_subprocess(make(tmp_path, genuine, outside))


@pytest.mark.parametrize("make", test_export_run.CASES, **_ids)
def test_kzoo_export_of_a_hostile_run_directory(make, run_copy):
    run_cli_subprocess(make(run_copy))


@pytest.mark.parametrize("make", test_info.CASES, **_ids)
def test_kzoo_info_of_a_tampered_version(make, version_copy, tmp_path):
    run_cli_subprocess(make(version_copy, tmp_path))


@pytest.mark.parametrize("make", test_predict_inputs.INPUT_CASES, **_ids)
def test_kzoo_predict_of_hostile_inputs(make, tmp_path, published):
    # (The decoder patch cannot reach another process: there the image cases' messages, which only
    # the header check writes, show the refusal came before decoding.)
    run_cli_subprocess(make(tmp_path, published))


@pytest.mark.parametrize("make", test_predict_inputs.VERSION_CASES, **_ids)
def test_kzoo_predict_of_a_tampered_version(make, tmp_path, version_copy):
    run_cli_subprocess(make(tmp_path, version_copy))


def test_a_concurrent_export_through_the_command_line(
    tmp_path, genuine, outside, name_held_by_another_process
):
    case = test_export_paths._case(
        tmp_path, genuine, outside, "m",
        rf"export '.*root/m' is in use by process {name_held_by_another_process.pid} on ",
    )
    run_cli_subprocess(case)
