"""Trained weights by name: `create_model("resnet20", weights="digits")`.

An entry is a *weights card* (what `kzoo publish` writes beside a `.weights.h5` file): the model and
tag, the file and its sha256, the dataset, the builder arguments the weights fit (`classes`,
`input_shape`, family arguments), the measured metrics, the exact command that trained them and the
library versions. kzoo ships, inside the package (`kzoo/models/weights/`), only entries this
project produced and verified offline; `register_weights` / `register_weights_card` add entries
whose file lives on a web server (a folder written by `kzoo publish`). A remote file is fetched
once with `keras.utils.get_file(file_hash=sha256)` into Keras' cache (`~/.keras/kzoo_weights/`);
a download whose sha256 differs is deleted and refused. Every file, shipped, cached or downloaded,
is hashed again when it is read, through the descriptor it is read from.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from kzoo.utils.errors import UserError

CARD_FORMAT = "kzoo-weights-card"
SHIPPED = Path(__file__).resolve().parent / "weights"
CACHE_SUBDIR = "kzoo_weights"
CACHE_DIR = None  # None: Keras' home (KERAS_HOME, else ~/.keras)
MAX_CARD_BYTES = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UnknownWeightsError(UserError):
    """A weights name that is not registered for the model."""


class WeightsDownloadError(UserError):
    """A registered remote weights file that could not be fetched or failed its sha256."""


@dataclass(frozen=True)
class WeightsEntry:
    """One registered weights file (see the module docstring).

    Args:
        model: the registered model name the weights are for.
        tag: the weights' name for that model (`"digits"`), as `create_model(..., weights=tag)`.
        sha256: the file's sha256 (hex).
        file: the file inside the package (shipped entries), else None.
        url: where a remote file is fetched from, else None.
        dataset: the dataset the weights were trained on.
        builder_kwargs: builder arguments the weights fit (`classes`, `input_shape`, ...).
        metrics: measured results of these weights, e.g. `{"test_accuracy": 0.97}`.
        command: the command that trained them.
        card: the whole card as published.
    """

    model: str
    tag: str
    sha256: str
    file: str | None = None
    url: str | None = None
    dataset: str | None = None
    builder_kwargs: Any = field(default_factory=dict)
    metrics: Any = field(default_factory=dict)
    command: str = ""
    card: Any = field(default_factory=dict)


_ENTRIES: dict[tuple[str, str], WeightsEntry] = {}
_LOADED = {"shipped": False}


def _shipped() -> None:
    if _LOADED["shipped"]:
        return
    _LOADED["shipped"] = True
    if not SHIPPED.is_dir():
        return
    for card_path in sorted(SHIPPED.glob("*.json")):
        card = read_card(card_path)
        _add(entry_from_card(card, file=card["file"]))


def read_card(path) -> dict:
    """A weights card from a local JSON file (bounded, NaN refused) with its fields checked."""
    from kzoo.utils.bounded_json import BoundedJSONError, loads_bounded

    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CARD_BYTES + 1)
        card = loads_bounded(data, max_bytes=MAX_CARD_BYTES, finite=True)
    except (OSError, BoundedJSONError) as err:
        raise UserError(f"weights card {str(path)!r} cannot be read ({err})") from None
    return check_card(card, str(path))


def check_card(card, shown: str) -> dict:
    """`card` if it has the fields kzoo reads, of the types `kzoo publish` writes."""
    def bad(what: str):
        return UserError(f"weights card {shown!r}: {what}")

    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise bad(f"not a {CARD_FORMAT} (no or another `format`)")
    for key in ("model", "tag", "file", "sha256"):
        if not isinstance(card.get(key), str):
            raise bad(f"`{key}` must be a string")
    if not _TAG.fullmatch(card["tag"]):
        raise bad(f"`tag` must be letters, digits, '.', '_', '-'; received {card['tag']!r}")
    if not _SHA256.fullmatch(card["sha256"]):
        raise bad("`sha256` must be 64 lowercase hex digits")
    if "/" in card["file"] or card["file"].startswith(".") or not card["file"].endswith(".weights.h5"):
        raise bad(f"`file` must be a plain .weights.h5 file name; received {card['file']!r}")
    builder = card.get("builder") or {}
    if not isinstance(builder, dict) or not isinstance(builder.get("kwargs", {}), dict):
        raise bad("`builder` must be an object with `kwargs`")
    if not isinstance(card.get("metrics", {}), dict):
        raise bad("`metrics` must be an object")
    return card


def entry_from_card(card: dict, *, file: str | None = None, url: str | None = None) -> WeightsEntry:
    builder = card.get("builder") or {}
    return WeightsEntry(
        model=card["model"],
        tag=card["tag"],
        sha256=card["sha256"],
        file=file,
        url=url,
        dataset=card.get("dataset"),
        builder_kwargs=MappingProxyType(dict(builder.get("kwargs", {}))),
        metrics=MappingProxyType(dict(card.get("metrics", {}))),
        command=str(card.get("command", "")),
        card=MappingProxyType(dict(card)),
    )


def _add(entry: WeightsEntry, replace: bool = False) -> None:
    key = (entry.model, entry.tag)
    if key in _ENTRIES and not replace:
        raise ValueError(f"Weights {entry.tag!r} of {entry.model!r} are already registered.")
    _ENTRIES[key] = entry


def register_weights(model: str, tag: str, *, url: str, sha256: str, dataset=None,
                     builder_kwargs=None, metrics=None, command: str = "",
                     replace: bool = False) -> WeightsEntry:
    """Register remote weights: `create_model(model, weights=tag)` then fetches `url`.

    Args:
        model: a registered model name.
        tag: the weights' name (letters, digits, '.', '_', '-').
        url: an http(s) URL of a `.weights.h5` file.
        sha256: its sha256; a download that does not match is deleted and refused.
        dataset, builder_kwargs, metrics, command: as in `WeightsEntry`.
        replace: replace an entry of the same model and tag.

    Example:
        >>> kzoo.register_weights("resnet20", "cifar10_gpu", url="https://example.org/r20.weights.h5",
        ...                       sha256="...", builder_kwargs={"classes": 10})
    """
    from kzoo.registry import get_entry

    get_entry(model)
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise UserError(f"`tag` must be letters, digits, '.', '_', '-'; received tag={tag!r}")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise UserError(f"`sha256` must be 64 lowercase hex digits; received sha256={sha256!r}")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise UserError(f"`url` must be an http(s) URL; received url={url!r}")
    _shipped()
    entry = WeightsEntry(model, tag, sha256, url=url, dataset=dataset,
                         builder_kwargs=MappingProxyType(dict(builder_kwargs or {})),
                         metrics=MappingProxyType(dict(metrics or {})), command=command)
    _add(entry, replace=replace)
    return entry


def register_weights_card(card_path, base_url: str, *, replace: bool = False) -> WeightsEntry:
    """Register the weights a `kzoo publish` card describes, hosted under `base_url` (the URL of
    the published folder): the file is fetched from `base_url/<card's file>`."""
    card = read_card(card_path)
    url = base_url.rstrip("/") + "/" + card["file"]
    builder = card.get("builder") or {}
    return register_weights(card["model"], card["tag"], url=url, sha256=card["sha256"],
                            dataset=card.get("dataset"), builder_kwargs=builder.get("kwargs"),
                            metrics=card.get("metrics"), command=str(card.get("command", "")),
                            replace=replace)


def list_weights(model: str | None = None) -> list[tuple[str, str]]:
    """Registered `(model, tag)` pairs, sorted; only `model`'s with a model name."""
    _shipped()
    return sorted(k for k in _ENTRIES if model is None or k[0] == model)


def get_weights(model: str, tag: str) -> WeightsEntry:
    """The entry of `model`'s weights `tag`; UnknownWeightsError names the ones that exist."""
    _shipped()
    if (model, tag) in _ENTRIES:
        return _ENTRIES[(model, tag)]
    tags = [t for m, t in _ENTRIES if m == model]
    close = difflib.get_close_matches(str(tag), tags, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    available = (
        f"registered weights of {model!r}: {', '.join(sorted(tags))}" if tags
        else f"no weights are registered for {model!r} (kzoo ships "
        + ", ".join(f"{m}:{t}" for m, t in sorted(_ENTRIES)) + ")"
    )
    raise UnknownWeightsError(
        f"weights={tag!r} is neither a file or directory nor registered weights of {model!r}."
        f"{hint} {available}; or pass a .weights.h5 / .keras file, a finished run directory or "
        "an exported SavedModel."
    )


def weights_file(entry: WeightsEntry, cache_dir=None) -> Path:
    """The local file of `entry`: inside the package, or fetched into Keras' cache."""
    if entry.file is not None:
        return SHIPPED / entry.file
    import keras

    base = Path(os.path.expanduser(cache_dir or CACHE_DIR or keras.config.keras_home()))
    name = f"{entry.model}-{entry.tag}-{entry.sha256[:16]}.weights.h5"
    target = base / CACHE_SUBDIR / name
    try:  # get_file falls back to /tmp/.keras when the folder cannot be written (or is missing)
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    try:
        path = keras.utils.get_file(
            fname=name, origin=entry.url, file_hash=entry.sha256, hash_algorithm="sha256",
            cache_dir=str(base), cache_subdir=CACHE_SUBDIR,
        )
    except ValueError as err:  # get_file's "corrupted file" after a download that does not match
        for left in (target, Path("/tmp/.keras") / CACHE_SUBDIR / name):
            if left.exists():
                left.unlink()  # Keras leaves it behind
        raise WeightsDownloadError(
            f"weights {entry.model}:{entry.tag} from {entry.url}: the download does not match the "
            f"registered sha256 {entry.sha256} ({err}); it was deleted"
        ) from None
    except Exception as err:  # noqa: BLE001  get_file wraps HTTP and URL errors in Exception
        raise WeightsDownloadError(
            f"weights {entry.model}:{entry.tag} could not be fetched from {entry.url} ({err})"
        ) from None
    return Path(path)


def forget_file(entry: WeightsEntry, path: Path) -> None:
    """Delete a cached download that no longer matches (never a shipped file)."""
    if entry.file is None and path.exists():
        path.unlink()
