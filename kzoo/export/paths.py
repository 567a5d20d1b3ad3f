"""Names, versions and directories of the TensorFlow Serving layout `<root>/<name>/<version>/`."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from kzoo.utils.errors import UserError
from kzoo.utils.locks import HOLDER_FILE, LOCK_FILE

# An allow-list rather than a deny-list: separators, `..`, absolute paths, NUL, empty and hidden names
# all fail it, and so does anything a file system or a URL might read differently.
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# TF Serving treats a child of `<name>/` as a version only if its name parses as an int64.
_VERSION_RE = re.compile(r"[1-9][0-9]{0,17}")
SAVED_MODEL_FILE = "saved_model.pb"


class ExportPathError(UserError):
    """A path of the export layout is a symbolic link (never followed) or not a directory."""


def validate_name(name) -> str:
    """Return `name` if it is a safe single path component; otherwise raise ValueError."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            "`name` must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no path separators, '..', absolute paths or NUL); received "
            f"name={name!r}."
        )
    return name


def validate_version(version) -> int:
    """Return `version` if it is a positive int (TF Serving versions are int64); else ValueError."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 10**18:
        raise ValueError(
            f"`version` must be a positive integer such as 1 or 2; received version={version!r}."
        )
    return version


def validate_root(root) -> Path:
    """Return `root` as a Path; a NUL byte or a non-path value raises ValueError."""
    if not isinstance(root, (str, os.PathLike)) or "\0" in os.fspath(root) or not os.fspath(root):
        raise ValueError(f"`root` must be a directory path; received root={root!r}.")
    return Path(root)


def check_export_target(root, name, version=None, force: bool = False) -> None:
    """Refuse, before anything is loaded, an export whose name or version is a link, or whose
    version exists without `force` (a cheap early check; the export itself checks again)."""
    real_root = Path(os.path.realpath(validate_root(root)))
    model_dir = real_root / validate_name(name)
    if version is not None:
        validate_version(version)
    if real_root.exists() and not real_root.is_dir():
        raise ExportPathError(f"the export root {str(real_root)!r} is not a directory")
    inside = [model_dir / LOCK_FILE, model_dir / HOLDER_FILE]
    if version is not None:
        inside.append(model_dir / str(version))
    for path in (model_dir, *inside):
        if os.path.islink(path):
            raise ExportPathError(
                f"{str(path)!r} is a symbolic link; kzoo does not follow links inside the export "
                "root (it would publish, and with --force delete, wherever the link points)"
            )
    if version is not None and os.path.lexists(model_dir / str(version)):
        if not force:
            raise FileExistsError(
                f"{str(model_dir / str(version))!r} already exists; pass force=True (--force) to "
                "replace it or choose another version."
            )
        if not os.path.isdir(model_dir / str(version)):
            raise ExportPathError(f"{str(model_dir / str(version))!r} is not a version directory")


def _numeric_entries(model_dir: Path) -> list[tuple[int, os.DirEntry]]:
    try:
        entries = list(os.scandir(model_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [(int(e.name), e) for e in entries if _VERSION_RE.fullmatch(e.name)]


def list_versions(model_dir) -> list[int]:
    """The published versions under `<root>/<name>/`, ascending: numeric directories, not links to
    them; staging directories are ignored."""
    return sorted(v for v, e in _numeric_entries(Path(model_dir)) if e.is_dir(follow_symlinks=False))


def next_version(model_dir) -> int:
    """One more than the highest version number in use (by a directory, or any other entry)."""
    taken = [v for v, _ in _numeric_entries(Path(model_dir))]
    return max(taken) + 1 if taken else 1


def resolve_saved_model_dir(path) -> Path:
    """A version directory as given, or the latest version of a `<root>/<name>/` directory.

    The path given may itself be a link; inside a model directory no link is followed: a latest
    version that is a symbolic link is refused (ExportPathError), not skipped for an older one.
    Raises FileNotFoundError naming the path when neither holds a SavedModel.
    """
    path = Path(path)
    if (path / SAVED_MODEL_FILE).is_file():
        return path
    entries = sorted(
        ((v, e) for v, e in _numeric_entries(path) if e.is_symlink() or e.is_dir(follow_symlinks=False)),
        key=lambda item: item[0],
    )
    if entries:
        version, entry = entries[-1]
        if entry.is_symlink():
            raise ExportPathError(
                f"{str(path / entry.name)!r} is a symbolic link; kzoo does not follow links inside a "
                "model directory (name a version directory itself to use it)"
            )
        if entry.is_dir(follow_symlinks=False) and (path / entry.name / SAVED_MODEL_FILE).is_file():
            return path / entry.name
    raise FileNotFoundError(
        f"{str(path)!r} is neither a SavedModel version directory (with {SAVED_MODEL_FILE}) nor a "
        "model directory holding numbered versions."
    )


# Linux names an open directory by its descriptor: paths under it stay inside that directory even
# if its name is swapped for a link meanwhile. Elsewhere the checked real path is used and re-checked.
_PROC_FD = "/proc/self/fd"
_HAS_DIR_FD = {os.open, os.mkdir, os.stat, os.rename} <= os.supports_dir_fd


class ExportDir:
    """`<root>/<name>/`, checked and opened once, for one export.

    The root may be (or pass through) a link the user made; it is resolved once. `<name>` must be a
    real directory inside it (created if missing): a symbolic link there is refused, never followed,
    so an export can neither publish outside the root nor, with --force, delete a version through a
    link. Every later step works inside the opened directory: `where(entry)` is a path that stays in
    it (through /proc/self/fd on Linux), `fd` is its descriptor for `dir_fd` calls (None where the
    platform has none; `check_unchanged` then re-checks the path before each step that writes).

    Example:
        >>> with ExportDir("saved_models", "digits_cnn") as d:
        ...     d.where(".tmp-1")
    """

    def __init__(self, root, name):
        self.root = Path(os.path.realpath(validate_root(root)))
        self.name = validate_name(name)
        self.path = self.root / self.name
        self.fd: int | None = None
        self.created = False
        self._identity = None
        self._root_fd: int | None = None

    def __enter__(self) -> ExportDir:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ExportPathError(f"the export root {str(self.root)!r} is not a directory") from None
        try:
            os.mkdir(self.path)
            self.created = True
        except FileExistsError:
            pass
        info = os.lstat(self.path)
        self._refuse_unless_directory(info, self.path)
        self._identity = (info.st_dev, info.st_ino)
        if _HAS_DIR_FD:
            flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
            self.fd = os.open(self.name, flags, dir_fd=self._open_root())
            opened = os.fstat(self.fd)
            if (opened.st_dev, opened.st_ino) != self._identity:
                self.close()
                raise ExportPathError(f"{str(self.path)!r} changed while it was being opened")
        return self

    def _open_root(self) -> int:
        if self._root_fd is None:
            self._root_fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        return self._root_fd

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for attr in ("fd", "_root_fd"):
            fd = getattr(self, attr, None)
            if fd is not None:
                os.close(fd)
                setattr(self, attr, None)

    @staticmethod
    def _refuse_unless_directory(info: os.stat_result, path) -> None:
        if stat.S_ISLNK(info.st_mode):
            raise ExportPathError(
                f"{str(path)!r} is a symbolic link; kzoo does not follow links inside the export "
                "root (it would publish, and with --force delete, wherever the link points)"
            )
        if not stat.S_ISDIR(info.st_mode):
            raise ExportPathError(f"{str(path)!r} is not a directory")

    def where(self, entry: str = "") -> str:
        """A path for `entry` inside this directory that no later rename or link redirects."""
        if self.fd is not None and os.path.isdir(_PROC_FD):
            base = f"{_PROC_FD}/{self.fd}"
        else:
            self.check_unchanged()
            base = str(self.path)
        return f"{base}/{entry}" if entry else base

    def check_unchanged(self) -> None:
        """Refuse if `<root>/<name>` is no longer the directory that was checked."""
        info = os.lstat(self.path)
        self._refuse_unless_directory(info, self.path)
        if (info.st_dev, info.st_ino) != self._identity:
            raise ExportPathError(f"{str(self.path)!r} was replaced during the export")

    def lstat(self, entry: str) -> os.stat_result | None:
        """`entry`'s own status (a link is not followed), or None if there is none."""
        try:
            if self.fd is not None:
                return os.stat(entry, dir_fd=self.fd, follow_symlinks=False)
            self.check_unchanged()
            return os.lstat(self.path / entry)
        except FileNotFoundError:
            return None

    def refuse_link(self, entry: str) -> os.stat_result | None:
        """`lstat(entry)`, refusing a symbolic link."""
        info = self.lstat(entry)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise ExportPathError(
                f"{str(self.path / entry)!r} is a symbolic link; kzoo does not follow links inside "
                "the export root"
            )
        return info
