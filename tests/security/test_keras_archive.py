"""Hostile `.keras` archives: bombs, lies in the zip headers, foreign members, special files.

Each case is refused by `load_keras` (UnsafeModelFileError naming the member and the rule) and by
`kzoo export <file>` (one line, exit status 2), with nothing published and its canaries intact.
"""

from __future__ import annotations

import os
import tempfile
import tracemalloc
import uuid
import zlib

import pytest

from kzoo.export import UnsafeModelFileError, list_versions, load_keras

from .conftest import Case, run_api, run_cli_in_process
from .crafting import BZIP2, DEFLATED, SYMLINK, Member, deflate_bomb, member, write_zip

PEAK_LIMIT = 32 << 20  # bytes of Python memory a refusal may use (the bombs inflate to 200+ MiB)


def _export_case(tmp_path, path, match, check=None, **kwargs) -> Case:
    root = tmp_path / "root"

    def nothing_published():
        assert list_versions(root / "m") == []
        if check is not None:
            check()

    return Case(
        argv=["export", str(path), "--name", "m", "--root", str(root)],
        api=lambda: load_keras(path), match=match, error=UnsafeModelFileError,
        check=nothing_published, **kwargs,
    )


def _genuine(parts, **replace):
    return [member(name, replace.get(name, data)) for name, data in parts.items()]


def _bounded(call):
    """`call()`, failing if it made Python allocate more than PEAK_LIMIT bytes at once."""

    def run():
        tracemalloc.start()
        try:
            call()
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < PEAK_LIMIT, f"peak Python memory {peak:,} bytes"

    return run


def config_declares_4k_inflates_200m(tmp_path, g):
    head = g.parts["config.json"].ljust(4096)  # a genuine config, padded with JSON whitespace
    bomb = Member("config.json", deflate_bomb(head, b" ", 200 << 20), DEFLATED, 4096, zlib.crc32(head))
    path = tmp_path / "bomb.keras"
    members = _genuine(g.parts)
    write_zip(path, [bomb if m.name == "config.json" else m for m in members])
    case = _export_case(tmp_path, path, r"config\.json inflates to more than its declared 4,096 bytes")
    case.api = _bounded(case.api)
    return case


def weights_inflate_past_their_declared_size(tmp_path, g):
    weights = g.parts["model.weights.h5"]
    bomb = Member(
        "model.weights.h5", deflate_bomb(weights, b"\0", 64 << 20), DEFLATED, len(weights),
        zlib.crc32(weights),
    )
    path = tmp_path / "bomb.keras"
    write_zip(path, [bomb if m.name == "model.weights.h5" else m for m in _genuine(g.parts)])
    case = _export_case(tmp_path, path, r"model\.weights\.h5 inflates to more than its declared")
    case.api = _bounded(case.api)
    return case


def config_declares_more_than_the_cap(tmp_path, g):
    path = tmp_path / "huge.keras"
    members = _genuine(g.parts)
    for m in members:
        if m.name == "config.json":
            m.size = 100 << 20
    write_zip(path, members)
    return _export_case(tmp_path, path, r"config\.json (declares 104,857,600 bytes|is implausibly large)")


def bad_crc(tmp_path, g):
    path = tmp_path / "crc.keras"
    members = _genuine(g.parts)
    for m in members:
        if m.name == "config.json":
            m.crc ^= 1
    write_zip(path, members)
    return _export_case(tmp_path, path, r"config\.json is damaged \(Bad CRC-32")


def truncated_archive(tmp_path, g):
    path = tmp_path / "cut.keras"
    write_zip(path, _genuine(g.parts), truncate_to=20_000)
    return _export_case(tmp_path, path, r"(is not a zip archive|not a zip file)")


def member_shorter_than_declared(tmp_path, g):
    path = tmp_path / "short.keras"
    weights = g.parts["model.weights.h5"]
    members = [m for m in _genuine(g.parts) if m.name != "model.weights.h5"]
    members.append(Member("model.weights.h5", weights[:1000], 0, len(weights), zlib.crc32(weights)))
    write_zip(path, members)
    return _export_case(tmp_path, path, r"model\.weights\.h5 (is damaged|holds 1,000 bytes)")


def _canary_member(tmp_path, g, name_for):
    """An archive with one extra member whose name points outside; that file must not appear."""
    canary = f"kzoo-canary-{uuid.uuid4().hex}.txt"
    places = [tmp_path / canary, tmp_path.parent / canary, os.path.join(tempfile.gettempdir(), canary)]
    path = tmp_path / "extra.keras"
    write_zip(path, [*_genuine(g.parts), member(name_for(canary), b"written outside")])

    def no_canary():
        assert not any(os.path.lexists(p) for p in places)

    return path, no_canary


def zip_slip_member(tmp_path, g):
    path, check = _canary_member(tmp_path, g, lambda c: f"../../{c}")
    return _export_case(tmp_path, path, r"\.\./\.\./kzoo-canary-\w+\.txt is not a member", check)


def absolute_member_path(tmp_path, g):
    path, check = _canary_member(tmp_path, g, lambda c: os.path.join(tempfile.gettempdir(), c))
    return _export_case(tmp_path, path, r"kzoo-canary-\w+\.txt is not a member", check)


def symlink_member(tmp_path, g):
    path = tmp_path / "link.keras"
    link = member("assets/passwd", b"/etc/passwd", attr=SYMLINK)
    write_zip(path, [*_genuine(g.parts), link])
    return _export_case(tmp_path, path, r"assets/passwd is not a member")


def symlink_attribute_on_a_known_member(tmp_path, g):
    path = tmp_path / "linkattr.keras"
    members = _genuine(g.parts)
    for m in members:
        if m.name == "metadata.json":
            m.attr = SYMLINK
    write_zip(path, members)
    return _export_case(tmp_path, path, r"metadata\.json is recorded as a link")


def duplicate_config(tmp_path, g):
    path = tmp_path / "twice.keras"
    write_zip(path, [*_genuine(g.parts), member("config.json", b"{}")])
    return _export_case(tmp_path, path, r"(config\.json appears twice|duplicate)")


def sixty_thousand_members(tmp_path, g):
    path = tmp_path / "many.keras"
    junk = [member(f"junk/{i:05d}", b"") for i in range(60_000)]
    write_zip(path, [*_genuine(g.parts), *junk])
    return _export_case(tmp_path, path, r"declares 60,003 entries")


def encrypted_member(tmp_path, g):
    path = tmp_path / "locked.keras"
    members = _genuine(g.parts)
    for m in members:
        if m.name == "config.json":
            m.flags |= 0x1
    write_zip(path, members)
    return _export_case(tmp_path, path, r"config\.json is encrypted")


def bzip2_member(tmp_path, g):
    path = tmp_path / "bz.keras"
    members = [m for m in _genuine(g.parts) if m.name != "config.json"]
    members.append(member("config.json", g.parts["config.json"], method=BZIP2))
    write_zip(path, members)
    return _export_case(tmp_path, path, r"config\.json uses compression method 12")


def keras_path_is_a_directory(tmp_path, g):
    path = tmp_path / "folder.keras"
    path.mkdir()
    return _export_case(tmp_path, path, r"is a directory")


def keras_path_links_to_dev_zero(tmp_path, g):
    path = tmp_path / "zero.keras"
    path.symlink_to("/dev/zero")
    # Without the fix the copy runs until the disk is full: cap writes for the attempt.
    return _export_case(tmp_path, path, r"is a device", fsize=64 << 20)


def keras_path_is_a_fifo(tmp_path, g):
    path = tmp_path / "pipe.keras"
    os.mkfifo(path)
    return _export_case(tmp_path, path, r"is a FIFO")


def deeply_nested_config(tmp_path, g):
    path = tmp_path / "deep.keras"
    write_zip(path, _genuine(g.parts, **{"config.json": b"[" * 100_000 + b"]" * 100_000}))
    return _export_case(tmp_path, path, r"config\.json is nested more than 64 levels deep")


def config_not_an_object(tmp_path, g):
    path = tmp_path / "list.keras"
    write_zip(path, _genuine(g.parts, **{"config.json": b"[1, 2, 3]"}))
    return _export_case(tmp_path, path, r"config\.json is not a JSON object")


def config_not_utf8(tmp_path, g):
    path = tmp_path / "latin.keras"
    write_zip(path, _genuine(g.parts, **{"config.json": b'{"a": "\xff"}'}))
    return _export_case(tmp_path, path, r"config\.json (is not valid JSON|is not JSON)")


def weights_missing(tmp_path, g):
    path = tmp_path / "noweights.keras"
    write_zip(path, [m for m in _genuine(g.parts) if m.name != "model.weights.h5"])
    return _export_case(tmp_path, path, r"model\.weights\.h5 is missing")


CASES = [
    config_declares_4k_inflates_200m, weights_inflate_past_their_declared_size,
    config_declares_more_than_the_cap, bad_crc, truncated_archive, member_shorter_than_declared,
    zip_slip_member, absolute_member_path, symlink_member, symlink_attribute_on_a_known_member,
    duplicate_config, sixty_thousand_members, encrypted_member, bzip2_member,
    keras_path_is_a_directory, keras_path_links_to_dev_zero, keras_path_is_a_fifo,
    deeply_nested_config, config_not_an_object, config_not_utf8, weights_missing,
]


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_the_python_api(make, tmp_path, genuine):
    run_api(make(tmp_path, genuine))


@pytest.mark.parametrize("make", CASES, ids=lambda f: f.__name__)
def test_refused_by_kzoo_export(make, tmp_path, genuine, capsys):
    run_cli_in_process(make(tmp_path, genuine), capsys)


def test_the_genuine_archive_loads(genuine):
    """Control: the parts every case tampers with make a loadable model when left alone."""
    import numpy as np

    from .crafting import write_zip as write

    path = genuine.path.parent / "rebuilt.keras"
    write(path, _genuine(genuine.parts))
    x = np.linspace(0, 1, 4 * 64, dtype="float32").reshape(4, 8, 8, 1)
    loaded = load_keras(path)
    np.testing.assert_allclose(loaded(x), genuine.model(x), atol=1e-6)


def test_kzoo_train_on_a_finished_run_refuses_a_model_linked_to_dev_zero(tmp_path):
    """The same loader guards `train()` reloading a finished run (it used to copy /dev/zero until
    the disk was full)."""
    from kzoo.training import TrainConfig, rundir, train
    from kzoo.utils.files import atomic_write_json

    from .conftest import deadline, file_size_limit

    config = TrainConfig(
        model="plain_cnn", dataset="digits", run_dir=str(tmp_path / "run"), epochs=1,
        model_kwargs={"depth": 3, "width": 4}, tensorboard=False, verbose=0,
    )
    run_dir = rundir.prepare_run_dir(config, rundir.check_run_dir(config))
    (run_dir / "model.keras").symlink_to("/dev/zero")
    atomic_write_json(run_dir / rundir.METRICS, {"test_accuracy": 0.5})
    # The run directory refuses the link before the loader is asked; the loader refuses devices
    # on its own as well (the keras_path_links_to_dev_zero case above).
    with deadline(60), file_size_limit(64 << 20):
        with pytest.raises(ValueError, match=r"model\.keras' is a symbolic link"):
            train(config)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "metrics.json", "model.keras"]
