"""Faults are errors, not crashes: a full disk, a quota, a read-only file system or a refused
permission while writing a run directory ends in one line naming the file (and, for space, how
much was needed); the previous good files stay, no partial file is left, and the same command
resumes once the storage is back."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kzoo.utils.files
from kzoo.cli import main
from kzoo.training import train
from kzoo.training.checkpoint import find_checkpoint
from kzoo.utils.files import StorageError

from .conftest import (
    assert_weights_equal,
    cli_argv,
    error_lines,
    kzoo_command,
    paused_kzoo,
    quick,
    saved_weights,
    subprocess_env,
    unfinished_copy,
    user_file,
)

REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
}


def _leftovers(run) -> list[Path]:
    """Temporary or partial files anywhere in the run directory."""
    return [
        p for p in Path(run).rglob("*")
        if p.name.startswith((".tmp", ".restore")) or p.name.endswith(".tmp")
        or (p.name.startswith(".") and p.name not in (".kzoo.lock", ".kzoo.lock.json"))
    ]


def _fail_fsync_of(monkeypatch, name_part: str, code: int):
    """Make fsync fail with `code` for files whose name contains `name_part` (as a disk that
    fills or turns read-only while the file is flushed); everything else is untouched."""
    real = os.fsync

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if name_part in os.path.basename(target):
            raise OSError(code, os.strerror(code))
        return real(fd)

    monkeypatch.setattr(kzoo.utils.files.os, "fsync", fsync)


# (file that fails, errno, a run that has finished its epochs: only the final files are written)
CASES = [
    ("latest.weights.h5", errno.ENOSPC, False),
    ("history.json", errno.EDQUOT, False),
    ("curves.png", errno.EROFS, True),
    ("model.keras", errno.ENOSPC, True),
    ("metrics.json", errno.EACCES, True),
]


@pytest.mark.parametrize("name, code, at_end", CASES, ids=[c[0] for c in CASES])
def test_a_storage_fault_is_one_line_and_leaves_the_previous_files(
    tmp_path, reference, canary, monkeypatch, name, code, at_end
):
    run = tmp_path / "run"
    notes = None
    if at_end:
        unfinished_copy(reference, run)
        notes = user_file(run)
    _fail_fsync_of(monkeypatch, name, code)
    with pytest.raises(StorageError) as failed:
        train(quick(run))
    message = str(failed.value)
    assert "\n" not in message and REASONS[code] in message
    assert f"{name}'" in message and str(run) in message
    if code in (errno.ENOSPC, errno.EDQUOT):
        assert "needed about" in message and "free some space and rerun" in message
    assert not (run / "metrics.json").exists()
    assert not _leftovers(run), _leftovers(run)
    if at_end:  # the checkpoint of the last epoch is intact: a rerun only writes the final files
        assert find_checkpoint(run / "checkpoint").epoch == 3
        assert not (run / name).exists() or name == "curves.png"
        assert notes.read_text() == "the user's own notes\n"
    elif name == "latest.weights.h5":  # the first epoch's checkpoint never existed
        assert not (run / "checkpoint" / name).exists()
    canary.assert_untouched()


def test_too_little_free_space_is_refused_before_hdf5_writes_a_byte(
    tmp_path, reference, monkeypatch, capsys
):
    # h5py on a full disk prints pages of HDF5 errors and can crash the process (exit 139),
    # leaving a partial file: the free space is checked against the previous checkpoint's size.
    run = tmp_path / "run"
    sizes = []
    real = kzoo.utils.files.free_bytes

    def free_bytes(path):
        sizes.append(path)
        return 1000 if "checkpoint" in str(path) else real(path)

    monkeypatch.setattr(kzoo.utils.files, "free_bytes", free_bytes)
    assert main(cli_argv(run)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"kzoo train: error: could not write '{run}/checkpoint/latest.weights.h5'")
    assert "no space left on the device (needed about" in err[0] and "1000 bytes free)" in err[0]
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == []
    assert not _leftovers(run)


def _mount_tmpfs(path: Path, size: str):
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system of `folder` until `leave` bytes are free."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    os.truncate(filler, max(0, os.path.getsize(filler) - (leave - free)))
    return filler


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["disk full", "16 KiB left", "read-only"])
def test_kzoo_train_on_a_tmpfs_that_fills_or_turns_read_only(tmp_path, reference, canary, fault):
    mount = tmp_path / "mnt"
    _mount_tmpfs(mount, "4m")
    try:
        run = mount / "run"
        # A real `kzoo train` (TensorBoard on) paused after epoch 2's history, before its checkpoint.
        argv = [a for a in cli_argv(run) if a != "--no-tensorboard"]
        process, release = paused_kzoo(tmp_path, argv, epoch=2)
        notes = user_file(run)
        filler = None
        if fault == "read-only":
            # Linux refuses to remount a file system read-only while files on it are open for
            # writing: the run is killed first, then resumed on the read-only file system.
            process.kill()
            process.communicate()
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
            process = subprocess.Popen(
                [sys.executable, "-m", "kzoo.cli", *argv], env=subprocess_env(),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
        else:
            filler = _fill(mount, 0 if fault == "disk full" else 16 << 10)
            release()
        out, err = process.communicate(timeout=300)
        assert process.returncode == 2, err[-3000:]
        lines = error_lines(err)
        assert len(lines) == 1 and lines[0].startswith("kzoo train: error: could not"), lines
        expected = "the file system is read-only" if fault == "read-only" else "no space left"
        assert expected in lines[0] and str(run) in lines[0]
        if fault != "read-only":
            assert "needed about" in lines[0]
        assert "Traceback" not in err and "HDF5" not in err
        # The previous good checkpoint (epoch 1) is intact; no partial file anywhere.
        assert find_checkpoint(run / "checkpoint").epoch == 1
        assert not _leftovers(run), _leftovers(run)

        # The storage back, the same command resumes and ends where the uninterrupted run did.
        if fault == "read-only":
            subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        else:
            filler.unlink()
        again = kzoo_command(*argv, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert_weights_equal(saved_weights(run), reference["weights"])
        assert notes.read_text() == "the user's own notes\n"
        canary.assert_untouched()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
