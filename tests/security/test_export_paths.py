"""Export roots, names and versions never follow a link out of the root; one exporter per name.

Refusals go through `export_saved_model` and `kzoo export`; the user's directory the links point to
must survive unchanged. Two cases are not refusals: a dead exporter's staging name that is a link,
and a link squatting on a version number, are left alone while the export publishes inside the root.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from kzoo.export import export_saved_model, list_versions
from kzoo.utils import publish
from kzoo.utils.errors import UserError

from .conftest import Case, assert_untouched, run_api, run_cli_in_process


def _case(tmp_path, g, outside, name, match, version=None, force=False, check=None) -> Case:
    root = tmp_path / "root"
    argv = ["export", str(g.path), "--name", name, "--root", str(root)]
    argv += ["--version", str(version)] if version is not None else []
    argv += ["--force"] if force else []

    def untouched():
        assert_untouched(outside)
        if check is not None:
            check()

    return Case(
        argv=argv, match=match, error=(UserError, OSError), check=untouched,
        api=lambda: export_saved_model(g.model, name, root=root, version=version, force=force),
    )


def name_is_a_link_with_force(tmp_path, g, outside):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "evil").symlink_to(outside.folder)
    return _case(tmp_path, g, outside, "evil", r"root/evil' is a symbolic link", version=1, force=True)


def name_is_a_link_without_force(tmp_path, g, outside):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "evil").symlink_to(outside.folder)
    return _case(tmp_path, g, outside, "evil", r"root/evil' is a symbolic link")


def name_is_a_dangling_link(tmp_path, g, outside):
    (tmp_path / "root").mkdir()
    target = outside.folder / "created-through-the-link"
    (tmp_path / "root" / "evil").symlink_to(target)
    return _case(tmp_path, g, outside, "evil", r"root/evil' is a symbolic link",
                 check=lambda: not target.exists() or _fail(target))


def version_is_a_link_with_force(tmp_path, g, outside):
    (tmp_path / "root" / "m").mkdir(parents=True)
    (tmp_path / "root" / "m" / "1").symlink_to(outside.folder / "1")
    return _case(tmp_path, g, outside, "m", r"m/1' is a symbolic link", version=1, force=True)


def version_is_a_file_with_force(tmp_path, g, outside):
    (tmp_path / "root" / "m").mkdir(parents=True)
    squatter = tmp_path / "root" / "m" / "1"
    squatter.write_text("not a version")
    return _case(tmp_path, g, outside, "m", r"m/1' is not a version directory", version=1, force=True,
                 check=lambda: squatter.read_text() == "not a version" or _fail(squatter))


def lock_file_is_a_link_to_a_user_file(tmp_path, g, outside):
    (tmp_path / "root" / "m").mkdir(parents=True)
    (tmp_path / "root" / "m" / ".kzoo.lock").symlink_to(outside.keep)
    return _case(tmp_path, g, outside, "m", r"m/\.kzoo\.lock' is a symbolic link")


def root_is_a_file(tmp_path, g, outside):
    (tmp_path / "root").write_text("a file")
    return _case(tmp_path, g, outside, "m", r"the export root .* is not a directory")


def _fail(path):
    raise AssertionError(f"{path} was changed")


CASES = [
    name_is_a_link_with_force, name_is_a_link_without_force, name_is_a_dangling_link,
    version_is_a_link_with_force, version_is_a_file_with_force, lock_file_is_a_link_to_a_user_file,
    root_is_a_file,
]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_the_python_api(make, tmp_path, genuine, outside):
    run_api(make(tmp_path, genuine, outside))


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_kzoo_export(make, tmp_path, genuine, outside, capsys):
    run_cli_in_process(make(tmp_path, genuine, outside), capsys)


def test_a_concurrent_export_to_the_same_name_is_refused(
    tmp_path, genuine, outside, name_held_by_another_process, capsys
):
    case = _case(tmp_path, genuine, outside, "m",
                 rf"export '.*root/m' is in use by process {name_held_by_another_process.pid} on ")
    run_api(case)
    run_cli_in_process(case, capsys)
    assert list_versions(tmp_path / "root" / "m") == []
    assert name_held_by_another_process.poll() is None  # the holder was never disturbed


@pytest.mark.slow
def test_a_staging_name_that_is_a_link_is_never_cleaned_through(tmp_path, genuine, outside):
    """A link named like a dead exporter's staging directory: the stale-staging clean-up must not
    delete what it points to; the export goes ahead inside the root."""
    model_dir = tmp_path / "root" / "m"
    model_dir.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    bait = model_dir / f"{publish.staging_prefix().rsplit('-', 2)[0]}-{dead.stdout.strip()}-bait"
    bait.symlink_to(outside.folder)
    path = export_saved_model(genuine.model, "m", root=tmp_path / "root")
    assert path == model_dir / "1" and list_versions(model_dir) == [1]
    assert bait.is_symlink()
    assert_untouched(outside)


@pytest.mark.slow
def test_a_link_squatting_on_a_version_number_is_skipped_not_followed(tmp_path, genuine, outside):
    model_dir = tmp_path / "root" / "m"
    model_dir.mkdir(parents=True)
    (model_dir / "1").symlink_to(outside.folder / "1")
    path = export_saved_model(genuine.model, "m", root=tmp_path / "root")
    assert path == model_dir / "2" and not path.is_symlink()
    assert (model_dir / "1").is_symlink()
    assert_untouched(outside)
