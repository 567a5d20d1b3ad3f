"""Model registry: builders register by name; users create models by name.

Follows timm's registry: `@register_model` on a plain builder function, the name is the function name,
`list_models` filters with fnmatch and an unknown name raises with the closest matches.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one registered builder."""

    name: str
    builder: Callable[..., keras.Model]
    family: str
    paper: str = ""
    default_input_shape: tuple | None = None
    published: dict[str, float] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    fn: Callable | None = None,
    *,
    paper: str = "",
    default_input_shape: tuple | None = None,
    published: dict[str, float] | None = None,
):
    """Register a model builder under its function name.

    Args:
        fn: the builder; it takes the keras.applications keyword arguments (`include_top`,
            `input_shape`, `input_tensor`, `pooling`, `classes`, `classifier_activation`, `name`).
        paper: short citation of the paper that defines the architecture.
        default_input_shape: the input shape the builder uses when none is given.
        published: published results, e.g. `{"cifar10_error": 6.43}`.

    Example:
        >>> @register_model(paper="He et al. 2015", default_input_shape=(32, 32, 3))
        ... def my_resnet(**kwargs):
        ...     return resnet_cifar(depth=20, **kwargs)
    """

    def wrap(builder: Callable) -> Callable:
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        family = builder.__module__.rsplit(".", 1)[-1]
        _REGISTRY[name] = ModelEntry(
            name=name,
            builder=builder,
            family=family,
            paper=paper,
            default_input_shape=tuple(default_input_shape) if default_input_shape else None,
            published=dict(published or {}),
        )
        return builder

    return wrap(fn) if fn is not None else wrap


def _ensure_models_imported() -> None:
    # Importing the families registers their builders.
    import kzoo.models  # noqa: F401


def get_entry(name: str) -> ModelEntry:
    """Return the registry entry of `name`; an unknown name raises ValueError with close matches."""
    _ensure_models_imported()
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown model name={name!r}.{hint} `kzoo.list_models()` lists all "
            f"{len(_REGISTRY)} registered models."
        )
    return _REGISTRY[name]


def create_model(name: str, **kwargs: Any) -> keras.Model:
    """Build a registered model by name.

    Args:
        name: a name from `list_models()`, e.g. `"resnet20"` or `"wrn_28_10"`.
        **kwargs: builder arguments (`classes`, `input_shape`, `include_top`, family arguments, ...).

    Example:
        >>> model = kzoo.create_model("resnet20", classes=10)
    """
    entry = get_entry(name)
    try:
        return entry.builder(**kwargs)
    except TypeError as err:
        # Variants forward **kwargs to their family builder, so Python names the bad keyword only
        # when the call fails; turn that into the ValueError every other bad argument raises.
        if "unexpected keyword argument" not in str(err):
            raise
        bad = str(err).rsplit("argument", 1)[-1].strip()
        raise ValueError(
            f"create_model({name!r}) got an unknown argument {bad}; the {entry.family} builders "
            f"take the keras.applications arguments and their family's (help(kzoo.models."
            f"{entry.family})). Received arguments: {', '.join(sorted(kwargs)) or '(none)'}."
        ) from err


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered models, optionally filtered by an fnmatch pattern (`"wrn*"`)."""
    _ensure_models_imported()
    names = sorted(_REGISTRY)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
