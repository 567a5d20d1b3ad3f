"""Downloads TFDS is about to start: looked at before they start, cleaned up when they fail.

Without network, TFDS' downloader retries every URL ten times with exponential back-off (urllib3's
`Retry(total=10, backoff_factor=0.2)` in `tensorflow_datasets.core.download.downloader`): about
3.5 minutes and one warning per attempt, after which it leaves its empty `<file>.tmp.<uuid>`
download folders behind. So before TFDS starts, kzoo resolves and connects to the host of every
archive that is neither in `manual_dir` nor downloaded already (a few seconds at most) and, when
one cannot be reached, refuses in one line saying which files to download by hand and where to put
them. A download that still fails later is reported the same way, and the folders it created that
hold nothing are removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path

from kzoo.utils.errors import UserError

PROBE_SECONDS = 5.0
# Folder names TFDS gives its temporaries: `<file>.tmp.<uuid>` downloads and `<version>.incomplete*`
# preparations.
_TEMPORARY_MARKS = (".tmp.", ".incomplete")
_SNAPSHOT_DEPTH = 4


class DownloadUnavailableError(UserError):
    """A dataset's archives cannot be downloaded here; the message says how to provide them."""


def archives_to_download(builder, manual_dir=None) -> dict:
    """`{url: UrlInfo}` of the archives `builder` would download: those neither in `manual_dir`
    (or TFDS' default `<data_dir>/downloads/manual`) nor in TFDS' download cache."""
    from tensorflow_datasets.core.download import resource

    root = Path(builder.data_dir_root)
    manual = [Path(manual_dir).expanduser()] if manual_dir else []
    manual.append(root / "downloads" / "manual")
    cache = [root / "downloads" / builder.name, root / "downloads"]
    needed = {}
    for url, info in (builder.url_infos or {}).items():
        names = [resource.get_dl_fname(url, info.checksum), resource.get_dl_fname(url)]
        found = any((folder / info.filename).is_file() for folder in manual if info.filename)
        found = found or any((folder / name).exists() for folder in cache for name in names)
        if not found:
            needed[url] = info
    return needed


def unreachable(url: str, timeout: float = PROBE_SECONDS) -> str | None:
    """Why `url`'s host (or the proxy for it) cannot be connected to within `timeout` seconds;
    None when a TCP connection opens."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and host and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        host, port = proxied.hostname, proxied.port or 80
    if not host:
        return f"{url!r} names no host"
    found: dict = {}

    def resolve():  # getaddrinfo has no timeout of its own
        try:
            found["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            found["error"] = err

    worker = threading.Thread(target=resolve, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"{host} did not resolve within {timeout:g} s"
    if "error" in found:
        return f"{host} does not resolve ({_reason(found['error'])})"
    error = None
    for family, kind, proto, _, address in found["addresses"]:
        with contextlib.closing(socket.socket(family, kind, proto)) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect(address)
                return None
            except OSError as err:
                error = err
    return f"{host}:{port} refuses or drops connections ({_reason(error)})"


def _reason(err) -> str:
    if isinstance(err, socket.timeout) or isinstance(err, TimeoutError):
        return "timed out"
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def check_downloads(name: str, builder, manual_dir=None, timeout: float = PROBE_SECONDS) -> None:
    """Refuse (DownloadUnavailableError) when an archive `builder` needs cannot be downloaded."""
    needed = archives_to_download(builder, manual_dir)
    problems = {}
    for url in needed:
        host = urllib.parse.urlsplit(url).hostname
        if host not in problems:
            problems[host] = unreachable(url, timeout)
    reason = next((why for why in problems.values() if why), None)
    if reason is not None:
        raise DownloadUnavailableError(f"cannot download {name}: {reason}; " + by_hand(needed))


def by_hand(needed: dict) -> str:
    """How to provide `needed` (`{url: UrlInfo}`) without network, in one sentence."""
    urls = sorted(needed)
    size = sum(int(info.size) for info in needed.values())
    files = " ".join(urls) if len(urls) == 1 else f"the {len(urls)} files " + ", ".join(urls)
    return (
        f"download {files} ({_mib(size)}) on a machine with network, put "
        f"{'it' if len(urls) == 1 else 'them'} in one folder and pass that folder as --manual-dir "
        "(manual_dir= from Python)"
    )


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.0f} KiB"


def _folders(root: Path) -> set[str]:
    """The folders under `root` (itself included) down to `_SNAPSHOT_DEPTH` levels."""
    found = set()
    if not root.is_dir():
        return found
    base = len(root.parts)
    for parent, dirs, _ in os.walk(root):
        found.add(parent)
        if len(Path(parent).parts) - base >= _SNAPSHOT_DEPTH:
            dirs.clear()
    return found


@contextlib.contextmanager
def removing_new_folders(root):
    """On an exception inside the block, remove what TFDS created under `root` and left behind:
    its temporary folders (`*.tmp.*`, `*.incomplete*`), then every new folder left empty. Folders
    that existed before are never touched."""
    root = Path(root)
    existed = root.exists()
    before = _folders(root)
    try:
        yield
    except BaseException:
        new = sorted(_folders(root) - before, key=lambda p: -len(Path(p).parts))
        for folder in new:
            if any(mark in Path(folder).name for mark in _TEMPORARY_MARKS):
                shutil.rmtree(folder, ignore_errors=True)
        for folder in new:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only if empty
        if not existed:
            with contextlib.suppress(OSError):
                os.rmdir(root)
        raise
