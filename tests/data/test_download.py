"""A dataset download without network: refused in seconds, in one line saying how to download by
hand and where to put the archive, leaving nothing behind (README: "Datasets").

No test here reaches the network: the archives' URLs are pointed at 127.0.0.1 (a closed port, or a
local server answering 404) or at a `.invalid` host, which never resolves.
"""

import contextlib
import http.server
import socket
import threading

import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import checksums, downloader

from kzoo.data import download
from kzoo.data.download import DownloadUnavailableError, check_downloads, unreachable

ARCHIVE = "cifar-10-binary.tar.gz"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed on leaving: connections are refused


@contextlib.contextmanager
def _server_answering_404():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cifar_at(monkeypatch):
    """Point CIFAR-10's archive at a URL of the test's choosing; fail if TFDS retries forever."""
    cls = tfds.builder_cls("cifar10")

    real = cls._cifar_info

    def point(url):
        info = checksums.UrlInfo(size=170_052_171, checksum="0" * 64, filename=ARCHIVE)
        monkeypatch.setattr(cls, "url_infos", property(lambda self: {url: info}))  # kzoo's check
        monkeypatch.setattr(  # what TFDS' builder downloads
            cls, "_cifar_info", property(lambda self: real.fget(self)._replace(url=url))
        )

    monkeypatch.setattr(downloader, "MAX_RETRIES", 0)  # a test that reaches TFDS ends at once
    return point


def _never_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("TFDS' downloader was started")

    monkeypatch.setattr(downloader._Downloader, "_sync_download", refuse)


def _tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else None


def test_a_refused_port_and_an_unknown_host_are_unreachable():
    assert "refuses or drops connections" in unreachable(f"http://127.0.0.1:{_closed_port()}/a")
    assert "kzoo-test.invalid does not resolve" in unreachable("https://kzoo-test.invalid/a.tgz")
    with _server_answering_404() as port:
        assert unreachable(f"http://127.0.0.1:{port}/a") is None


def test_offline_train_is_one_line_naming_the_files_and_manual_dir(
    cifar_at, monkeypatch, tmp_path, capsys
):
    from kzoo.cli import main

    url = f"http://127.0.0.1:{_closed_port()}/~kriz/{ARCHIVE}"
    cifar_at(url)
    _never_downloads(monkeypatch)
    data_dir, run_dir = tmp_path / "tfds", tmp_path / "run"
    code = main(["train", "--model", "resnet20", "--dataset", "cifar10", "--data-dir",
                 str(data_dir), "--run-dir", str(run_dir)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("kzoo train: error: cannot download cifar10: 127.0.0.1:")
    assert "refuses or drops connections" in err
    assert f"download {url} (162.2 MiB) on a machine with network, put it in one folder" in err
    assert "pass that folder as --manual-dir" in err
    assert not data_dir.exists() and not run_dir.exists()


def test_an_archive_in_manual_dir_needs_no_network(cifar_at, monkeypatch, tmp_path):
    cifar_at("https://kzoo-test.invalid/" + ARCHIVE)
    builder = tfds.builder("cifar10", data_dir=str(tmp_path / "tfds"))
    with pytest.raises(DownloadUnavailableError, match="kzoo-test.invalid does not resolve"):
        check_downloads("cifar10", builder)
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / ARCHIVE).write_bytes(b"archive")
    monkeypatch.setattr(download, "unreachable", lambda *a, **k: pytest.fail("probed"))
    check_downloads("cifar10", builder, manual_dir=tmp_path / "manual")


def test_a_download_failing_after_the_check_leaves_no_folder(cifar_at, tmp_path):
    import kzoo.data

    data_dir = tmp_path / "tfds"
    (data_dir / "mine").mkdir(parents=True)  # a folder that was there before stays
    with _server_answering_404() as port:
        url = f"http://127.0.0.1:{port}/{ARCHIVE}"
        cifar_at(url)
        with pytest.raises(DownloadUnavailableError) as caught:
            kzoo.data.load_arrays("cifar10", data_dir=data_dir)
    message = str(caught.value)
    assert message.startswith(f"could not download or prepare cifar10 (TFDS 'cifar10') into "
                              f"{str(data_dir)!r}: ")
    assert "404" in message and f"download {url} (162.2 MiB)" in message
    assert "\n" not in message
    assert _tree(data_dir) == ["mine"]
