"""A full or read-only disk during `kzoo export`: one line, nothing published, no staging left, the
earlier version intact. Needs a tmpfs mount (root in a container); skipped with the reason otherwise.
"""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from kzoo.export import export_saved_model, list_versions, read_metadata, verify_checksums
from kzoo.utils.files import StorageError

from .conftest import Case, run_api, run_cli_subprocess

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs at `<tmp>/disk`, unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(folder, leave: int) -> None:
    """Fill the file system holding `folder` until only about `leave` bytes are free."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)
    os.truncate(folder / "filler", os.path.getsize(folder / "filler") - leave)


def _intact(version_dir):
    def check():
        model_dir = version_dir.parent
        assert list_versions(model_dir) == [1]
        assert not [n for n in os.listdir(model_dir) if n.startswith(".tmp-")]
        assert verify_checksums(version_dir, read_metadata(version_dir)) == []

    return check


def _case(genuine, root, match) -> Case:
    version_dir = root / "tiny" / "1"
    return Case(
        argv=["export", str(genuine.path), "--name", "tiny", "--root", str(root)],
        api=lambda: export_saved_model(genuine.model, "tiny", root=root), match=match,
        error=StorageError, check=_intact(version_dir),
    )


def test_a_full_disk_ends_the_export_in_one_line(genuine, small_disk):
    root = small_disk / "saved_models"
    assert export_saved_model(genuine.model, "tiny", root=root).name == "1"
    _fill(small_disk, leave=32 << 10)
    case = _case(genuine, root, r"could not export to '.*tiny/?': no space left on the device")
    run_api(case)
    run_cli_subprocess(case)


def test_a_read_only_disk_ends_the_export_in_one_line(genuine, small_disk):
    root = small_disk / "saved_models"
    assert export_saved_model(genuine.model, "tiny", root=root).name == "1"
    remounted = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True,
                               text=True)
    if remounted.returncode != 0:
        pytest.skip(f"cannot remount read-only ({remounted.stderr.strip()})")
    case = _case(genuine, root, r"could not export to '.*tiny/?': the file system is read-only")
    run_api(case)
    run_cli_subprocess(case)
