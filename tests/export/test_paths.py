import os

import pytest

from kzoo.export.paths import (
    list_versions,
    next_version,
    resolve_saved_model_dir,
    validate_name,
    validate_root,
)
from kzoo.utils import publish as _atomic


def _version(model_dir, name, content="v"):
    path = model_dir / name
    path.mkdir(parents=True)
    (path / "saved_model.pb").write_text(content)
    return path


def test_only_canonical_numeric_directories_are_versions(tmp_path):
    for name in ("1", "3", "10"):
        _version(tmp_path, name)
    for name in ("01", "abc", ".tmp-x1", "-2", "0"):
        (tmp_path / name).mkdir()
    (tmp_path / "4").write_text("a file, not a version")
    assert list_versions(tmp_path) == [1, 3, 10]
    assert next_version(tmp_path) == 11
    assert next_version(tmp_path / "absent") == 1
    assert resolve_saved_model_dir(tmp_path) == tmp_path / "10"
    assert resolve_saved_model_dir(tmp_path / "3") == tmp_path / "3"


def test_resolve_refuses_directories_without_a_saved_model(tmp_path):
    (tmp_path / "m" / "2").mkdir(parents=True)  # a numbered directory without saved_model.pb
    for path in (tmp_path, tmp_path / "m", tmp_path / "missing"):
        with pytest.raises(FileNotFoundError, match="neither a SavedModel version directory"):
            resolve_saved_model_dir(path)


@pytest.mark.parametrize("name", ["digits_cnn", "resnet20-v1.2", "A", "x" * 128])
def test_plain_names_are_accepted(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("root", ["", "a\0b", None, 3])
def test_bad_roots_are_refused(root):
    with pytest.raises(ValueError, match="`root` must be a directory path"):
        validate_root(root)


@pytest.fixture(params=["renameat2", "portable"])
def rename_impl(request, monkeypatch):
    if request.param == "portable":
        monkeypatch.setattr(_atomic, "_RENAMEAT2", None)
    elif _atomic._RENAMEAT2 is None:
        pytest.fail("renameat2 is unavailable on this Linux machine")
    return request.param


def test_publish_never_replaces_without_replace(tmp_path, rename_impl):
    target = _version(tmp_path, "1", "old")
    staging = _atomic.make_staging_dir(tmp_path)
    (staging / "saved_model.pb").write_text("new")
    with pytest.raises(FileExistsError):
        _atomic.publish_dir(staging, target)
    assert (target / "saved_model.pb").read_text() == "old"
    assert (staging / "saved_model.pb").read_text() == "new"

    _atomic.publish_dir(staging, tmp_path / "2")
    assert (tmp_path / "2" / "saved_model.pb").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]


def test_publish_with_replace_swaps_in_the_complete_directory(tmp_path, rename_impl):
    target = _version(tmp_path, "1", "old")
    (target / "old-only-file").write_text("stale")
    staging = _atomic.make_staging_dir(tmp_path)
    (staging / "saved_model.pb").write_text("new")
    _atomic.publish_dir(staging, target, replace=True)
    assert sorted(os.listdir(target)) == ["saved_model.pb"]
    assert (target / "saved_model.pb").read_text() == "new"
    assert os.listdir(tmp_path) == ["1"]  # the replaced version is gone, no staging left


def test_a_published_version_has_the_usual_permissions_not_mkdtemps_0700(tmp_path, rename_impl):
    # A server reading the export often runs as another user.
    old = os.umask(0o022)
    try:
        staging = _atomic.make_staging_dir(tmp_path)
        _atomic.publish_dir(staging, tmp_path / "1")
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "1").st_mode & 0o777) == 0o755
