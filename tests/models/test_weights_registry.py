"""The weights registry: the shipped entries are the files their cards describe and score what
their cards say; their commands train them again; remote entries are fetched with their sha256
checked; `kzoo publish` writes a card a registry can use."""

import functools
import hashlib
import http.server
import json
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import kzoo
from kzoo.models import weights_registry
from kzoo.models.weights_registry import (
    SHIPPED,
    WeightsDownloadError,
    get_weights,
    list_weights,
    read_card,
    register_weights,
    register_weights_card,
)
from kzoo.utils.errors import UserError

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ENTRIES = [("plain_cnn", "mnist1d"), ("resnet20", "digits_0to4")]


def test_the_shipped_entries_are_their_cards_files():
    assert list_weights() == SHIPPED_ENTRIES
    for model, tag in SHIPPED_ENTRIES:
        entry = get_weights(model, tag)
        data = (SHIPPED / entry.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256 == entry.card["sha256"]
        assert len(data) == entry.card["bytes"] < 600_000  # small enough to ship
        assert entry.command.startswith(f"kzoo train --model {model} --dataset {entry.dataset}")
    assert list_weights("resnet20") == [("resnet20", "digits_0to4")]


def test_a_registered_name_builds_for_its_data():
    model = kzoo.create_model("plain_cnn", weights="mnist1d")  # shape and classes from the card
    assert model.input_shape == (None, 40, 1) and model.output_shape == (None, 10)
    with pytest.raises(UserError, match="Did you mean 'mnist1d'"):
        kzoo.create_model("plain_cnn", weights="mnist1D")


@pytest.mark.slow
@pytest.mark.parametrize("model, tag", SHIPPED_ENTRIES)
def test_the_shipped_weights_score_what_their_card_says(model, tag):
    import kzoo.data

    entry = get_weights(model, tag)
    built = kzoo.create_model(model, weights=tag)
    config = entry.card["config"]
    bundle = kzoo.data.load(entry.dataset, batch_size=256, seed=config["seed"],
                            validation_split=config["validation_split"])
    right = total = 0
    for x, y in bundle.test:
        right += int(np.sum(np.argmax(built(x, training=False), -1) == np.asarray(y)))
        total += len(y)
    assert total == entry.metrics["test_examples"]
    assert right / total == pytest.approx(entry.metrics["test_accuracy"], abs=1e-9)
    # float16 storage costs nothing measurable here (at most one test example).
    assert abs(right / total - entry.metrics["run_test_accuracy"]) <= 1 / total + 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("model, tag", SHIPPED_ENTRIES)
def test_the_card_command_trains_the_weights_again(model, tag, tmp_path):
    """The recorded `kzoo train` command, run again, reaches the card's accuracy within noise
    (minutes: plain_cnn on MNIST-1D ~2-3 min, ResNet-20 on digits 0-4 ~1 min on 2 cores)."""
    entry = get_weights(model, tag)
    argv = shlex.split(entry.command)[2:] + ["--run-dir", str(tmp_path / "run"), "--verbose", "0"]
    done = subprocess.run([sys.executable, "-m", "kzoo.cli", "train", *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["fingerprint"] == entry.card["fingerprint"]  # the same settings
    assert metrics["test_accuracy"] == pytest.approx(entry.metrics["run_test_accuracy"], abs=0.02)


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving `tmp_path / "site"`."""
    site = tmp_path / "site"
    site.mkdir()
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Remote entries registered by a test go away with it; downloads land in `tmp_path`."""
    monkeypatch.setattr(weights_registry, "_ENTRIES", dict(weights_registry._ENTRIES))
    monkeypatch.setattr(weights_registry, "CACHE_DIR", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home" / weights_registry.CACHE_SUBDIR


def test_a_remote_entry_is_fetched_once_into_the_cache(server, registry):
    site, url = server
    shipped = get_weights("plain_cnn", "mnist1d")
    (site / "w.weights.h5").write_bytes((SHIPPED / shipped.file).read_bytes())
    register_weights("plain_cnn", "remote", url=f"{url}/w.weights.h5", sha256=shipped.sha256,
                     builder_kwargs={"classes": 10, "input_shape": [40, 1]})
    remote = kzoo.create_model("plain_cnn", weights="remote")
    local = kzoo.create_model("plain_cnn", weights="mnist1d")
    for a, b in zip(remote.weights, local.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    cached = list(registry.iterdir())
    assert len(cached) == 1
    (site / "w.weights.h5").unlink()  # the second build reads the cache, not the server
    kzoo.create_model("plain_cnn", weights="remote")


def test_a_download_with_another_sha256_is_refused_and_deleted(server, registry):
    site, url = server
    (site / "w.weights.h5").write_bytes((SHIPPED / "plain_cnn-mnist1d.weights.h5").read_bytes())
    register_weights("plain_cnn", "tampered", url=f"{url}/w.weights.h5", sha256="0" * 64,
                     builder_kwargs={"classes": 10, "input_shape": [40, 1]})
    with pytest.raises(WeightsDownloadError, match="does not match the registered sha256 0000"):
        kzoo.create_model("plain_cnn", weights="tampered")
    assert not registry.exists() or not any(registry.iterdir())
    register_weights("plain_cnn", "missing", url=f"{url}/nothing.weights.h5", sha256="0" * 64)
    with pytest.raises(WeightsDownloadError, match="could not be fetched"):
        kzoo.create_model("plain_cnn", weights="missing", input_shape=(40, 1))


def test_a_published_card_registers_a_hosted_folder(server, registry, tmp_path):
    site, url = server
    card = json.loads((SHIPPED / "resnet20-digits_0to4.json").read_text())
    card["tag"] = "hosted"
    (site / "card.json").write_text(json.dumps(card))
    (site / card["file"]).write_bytes((SHIPPED / card["file"]).read_bytes())
    entry = register_weights_card(site / "card.json", base_url=url)
    assert entry.url == f"{url}/{card['file']}" and entry.dataset == "digits_0to4"
    model = kzoo.create_model("resnet20", weights="hosted")
    assert model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 5)


@pytest.mark.parametrize("change, match", [
    ({"format": "other"}, "not a kzoo-weights-card"),
    ({"sha256": "xyz"}, "sha256"),
    ({"file": "../../etc/passwd.weights.h5"}, "plain .weights.h5 file name"),
    ({"tag": "a b"}, "tag"),
])
def test_a_malformed_card_is_refused(tmp_path, change, match):
    card = json.loads((SHIPPED / "plain_cnn-mnist1d.json").read_text())
    (tmp_path / "card.json").write_text(json.dumps({**card, **change}))
    with pytest.raises(UserError, match=match):
        read_card(tmp_path / "card.json")


def test_a_shipped_file_that_changed_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "weights"
    copy.mkdir()
    for path in SHIPPED.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    data = bytearray((copy / "plain_cnn-mnist1d.weights.h5").read_bytes())
    data[-100] ^= 1
    (copy / "plain_cnn-mnist1d.weights.h5").write_bytes(bytes(data))
    monkeypatch.setattr(weights_registry, "SHIPPED", copy)
    with pytest.raises(UserError, match="not the registered"):
        kzoo.create_model("plain_cnn", weights="mnist1d")
    assert (copy / "plain_cnn-mnist1d.weights.h5").exists()  # a shipped file is never deleted


def test_the_train_command_reproduces_the_fingerprint():
    from kzoo.cli import build_parser
    from kzoo.training import TrainConfig
    from kzoo.training.cli_args import config_from_args, train_command
    from kzoo.training.command import DEFAULTS

    config = TrainConfig(model="plain_cnn", dataset="digits", run_dir="r", epochs=7,
                         optimizer="adamw", learning_rate=2e-3, schedule="multistep",
                         milestones=(3, 5), weight_decay=1e-4, augment=False, tensorboard=False,
                         model_kwargs={"depth": 5, "activation": "elu"}, label_smoothing=0.1,
                         snapshots=0, freeze="backbone", init_from="x.keras")
    argv = shlex.split(train_command(config))[1:] + ["--run-dir", "r"]
    args = build_parser().parse_args(argv)
    again = config_from_args(args, DEFAULTS, recipe="train")
    assert again.fingerprint() == config.fingerprint()
    for model, tag in SHIPPED_ENTRIES:
        entry = get_weights(model, tag)
        args = build_parser().parse_args(shlex.split(entry.command)[1:] + ["--run-dir", "r"])
        rebuilt = config_from_args(args, DEFAULTS, recipe="train")
        assert rebuilt.fingerprint() == entry.card["fingerprint"]
