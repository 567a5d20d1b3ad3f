"""`kzoo info <saved_model_dir>` on tampered versions: links and special files are reported, never
read; the metadata is read bounded, NaN refused, and its shape checked before a field is used.

A link inside the version points at a FIFO outside it: reading it would block, so a case that
finishes proves the file was never opened. Reported problems end `kzoo info` with status 1 (the
checksum line); metadata kzoo cannot trust is refused in one line with status 2.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from kzoo.export.command import describe_saved_model

from .conftest import Case, run_api, run_cli_in_process

META = "assets.extra/kzoo_metadata.json"


def _reported(version, match) -> Case:
    def lines_report(lines):
        import re

        assert re.search(match, lines[-1]), lines[-1]

    return Case(argv=["info", str(version)], api=lambda: describe_saved_model(version), match=match,
                exit=1, api_returns=lines_report)


def _refused(target, match, check=None) -> Case:
    # UserError is a ValueError: what a Python caller catches.
    return Case(argv=["info", str(target)], api=lambda: describe_saved_model(target), match=match,
                error=ValueError, check=check or (lambda: None))


def _edit_meta(version, edit):
    path = version / META
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta, allow_nan=True))


def file_linked_to_a_fifo_outside(version, tmp_path):
    fifo = tmp_path / "outside.fifo"
    os.mkfifo(fifo)
    (version / "variables" / "variables.index").unlink()
    (version / "variables" / "variables.index").symlink_to(fifo)
    return _reported(version, r"MISMATCH -- symbolic link \(not read\): variables/variables\.index")


def file_linked_to_a_copy_of_itself_outside(version, tmp_path):
    """The attack `checksums OK` used to confirm: a link to an outside file with the right bytes."""
    guess = tmp_path / "guess.bin"
    shutil.copyfile(version / "saved_model.pb", guess)
    (version / "saved_model.pb").unlink()
    (version / "saved_model.pb").symlink_to(guess)
    return _reported(version, r"MISMATCH -- symbolic link \(not read\): saved_model\.pb")


def variables_directory_linked_outside(version, tmp_path):
    shutil.move(version / "variables", tmp_path / "variables")
    (version / "variables").symlink_to(tmp_path / "variables")
    return _reported(version, r"symbolic link \(not read\): variables")


def a_fifo_inside_the_version(version, tmp_path):
    os.mkfifo(version / "assets.extra" / "pipe")
    return _reported(version, r"not a regular file \(not read\): assets\.extra/pipe")


def metadata_of_200_mb(version, tmp_path):
    with open(version / META, "r+b") as f:
        f.truncate(200_000_000)  # sparse: no disk used
    return _refused(version, r"is 200,000,000 bytes, more than the")


def metadata_with_nan(version, tmp_path):
    _edit_meta(version, lambda m: m["verification"].update(max_abs_diff=float("nan")))
    return _refused(version, r"holds the non-finite number NaN")


def metadata_with_a_number_too_large_for_a_float(version, tmp_path):
    path = version / META
    path.write_text(path.read_text().replace('"probe_size": 16', '"probe_size": 1e999'))
    return _refused(version, r"holds the non-finite number 1e999")


def metadata_without_a_signature(version, tmp_path):
    _edit_meta(version, lambda m: m.pop("signature"))
    return _refused(version, r"`signature` is missing")


def metadata_with_classes_5(version, tmp_path):
    _edit_meta(version, lambda m: m.update(classes=5))
    return _refused(version, r"`classes` must be a list of class names; received 5")


def metadata_with_params_as_text(version, tmp_path):
    _edit_meta(version, lambda m: m["model"].update(trainable_params="many"))
    return _refused(version, r"`model\.trainable_params` must be a count; received 'many'")


def metadata_not_an_object(version, tmp_path):
    (version / META).write_text("[1, 2, 3]")
    return _refused(version, r"is not a JSON object")


def metadata_nested_100k_deep(version, tmp_path):
    (version / META).write_text("[" * 100_000 + "]" * 100_000)
    return _refused(version, r"is nested more than 64 levels deep")


def metadata_not_utf8(version, tmp_path):
    (version / META).write_bytes(b'{"name": "\xff"}')
    return _refused(version, r"is not valid JSON")


def metadata_pointing_checksums_outside(version, tmp_path):
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    rel = os.path.relpath(fifo, version)
    _edit_meta(version, lambda m: m["files"].update({rel: "0" * 64}))
    return _refused(version, r"`files` must be an object of relative paths and sha256 digests")


def metadata_file_is_a_link(version, tmp_path):
    outside = tmp_path / "meta.json"
    shutil.move(version / META, outside)
    (version / META).symlink_to(outside)
    return _refused(version, r"kzoo_metadata\.json' is a symbolic link")


def assets_extra_is_a_link(version, tmp_path):
    shutil.move(version / "assets.extra", tmp_path / "assets.extra")
    (version / "assets.extra").symlink_to(tmp_path / "assets.extra")
    return _refused(version, r"assets\.extra' is a symbolic link")


def latest_version_is_a_link(version, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(version, elsewhere)
    (version.parent / "2").symlink_to(elsewhere)
    return _refused(version.parent, r"tiny/2' is a symbolic link; kzoo does not follow links")


CASES = [
    file_linked_to_a_fifo_outside, file_linked_to_a_copy_of_itself_outside,
    variables_directory_linked_outside, a_fifo_inside_the_version, metadata_of_200_mb,
    metadata_with_nan, metadata_with_a_number_too_large_for_a_float, metadata_without_a_signature,
    metadata_with_classes_5, metadata_with_params_as_text, metadata_not_an_object,
    metadata_nested_100k_deep, metadata_not_utf8, metadata_pointing_checksums_outside,
    metadata_file_is_a_link, assets_extra_is_a_link, latest_version_is_a_link,
]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_handled_by_the_python_api(make, version_copy, tmp_path):
    run_api(make(version_copy, tmp_path))


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_handled_by_kzoo_info(make, version_copy, tmp_path, capsys):
    run_cli_in_process(make(version_copy, tmp_path), capsys)


def test_an_untouched_copy_checks_out(version_copy, capsys):
    """Control: the version every case tampers with is reported whole."""
    from kzoo.cli import main

    assert main(["info", str(version_copy)]) == 0
    assert "checksums: 4 files OK" in capsys.readouterr().out
