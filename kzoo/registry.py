"""Model registry: models by name, as data.

Follows timm's registry (`list_models` filters with fnmatch, an unknown name raises with the closest
matches), with one difference: a registered model is a *family builder plus the arguments that make
the variant* (`wrn_28_10` = `wide_resnet(depth=28, widen_factor=10)`), declared in
`kzoo.models.catalog`. The registry therefore lists models without importing TensorFlow, and a tuner
reads a variant's arguments (`get_entry("wrn_28_10").arguments["widen_factor"]`) instead of parsing its
name. `@register_model` adds a user's own builder function under its name.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kzoo.utils.errors import UserError

IMAGENET_CLASSES = 1000
DEFAULT_CLASSES = 10  # the CIFAR-10 / MNIST / digits head


class UnknownModelError(UserError):
    """A model name that is not registered."""


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model.

    Args:
        name: the registered name.
        family: the family module's name (`"resnet"`, `"wide_resnet"`, ...).
        family_builder: `"module:function"` of the builder, or the builder itself (user builders).
        arguments: the variant's builder arguments; a caller's keywords override them.
        paper: short citation of the paper that defines the architecture.
        default_input_shape: the input shape the builder uses when none is given.
        published: published results, e.g. `{"cifar10_error": 6.43}`.
        summary: one line on what the variant is.
    """

    name: str
    family: str
    family_builder: str | Callable
    arguments: Mapping[str, Any] = field(default_factory=dict)
    paper: str = ""
    default_input_shape: tuple | None = None
    published: Mapping[str, float] = field(default_factory=dict)
    summary: str = ""

    def load_builder(self) -> Callable:
        """The family builder function (importing its module, and so TensorFlow)."""
        if callable(self.family_builder):
            return self.family_builder
        module, function = self.family_builder.split(":")
        return getattr(importlib.import_module(module), function)

    @property
    def builder(self) -> Callable[..., Any]:
        """A function that builds this variant: `entry.builder(classes=10)`."""

        def build(**kwargs):
            return self.load_builder()(**{**self.arguments, **kwargs})

        build.__name__ = self.name
        build.__doc__ = self.summary
        return build

    @property
    def default_classes(self) -> int:
        """Head size when none is given: 1000 for models published on ImageNet, else 10."""
        if any(key.startswith("imagenet") for key in self.published):
            return IMAGENET_CLASSES
        return DEFAULT_CLASSES


_REGISTRY: dict[str, ModelEntry] = {}


def _add(entry: ModelEntry) -> None:
    if entry.name in _REGISTRY:
        raise ValueError(f"A model named {entry.name!r} is already registered.")
    _REGISTRY[entry.name] = entry


def _load_catalog() -> None:
    from kzoo.models.catalog import VARIANTS

    for name, family, builder, arguments, paper, shape, published, summary in VARIANTS:
        _add(
            ModelEntry(
                name=name,
                family=family,
                family_builder=f"kzoo.models.{family}:{builder}",
                arguments=MappingProxyType(dict(arguments)),
                paper=paper,
                default_input_shape=tuple(shape),
                published=MappingProxyType(dict(published)),
                summary=summary,
            )
        )


_load_catalog()


def register_model(
    fn: Callable | None = None,
    *,
    paper: str = "",
    default_input_shape: tuple | None = None,
    published: dict[str, float] | None = None,
):
    """Register a model builder function under its name.

    Args:
        fn: the builder; it takes the keras.applications keyword arguments (`include_top`,
            `input_shape`, `input_tensor`, `pooling`, `classes`, `classifier_activation`, `name`).
        paper: short citation of the paper that defines the architecture.
        default_input_shape: the input shape the builder uses when none is given.
        published: published results, e.g. `{"cifar10_error": 6.43}`.

    Example:
        >>> @register_model(paper="He et al. 2015", default_input_shape=(32, 32, 3))
        ... def my_resnet(**kwargs):
        ...     return kzoo.models.resnet.resnet_cifar(depth=20, **kwargs)
    """

    def wrap(builder: Callable) -> Callable:
        _add(
            ModelEntry(
                name=builder.__name__,
                family=builder.__module__.rsplit(".", 1)[-1],
                family_builder=builder,
                paper=paper,
                default_input_shape=tuple(default_input_shape) if default_input_shape else None,
                published=dict(published or {}),
                summary=(builder.__doc__ or "").strip().split("\n")[0],
            )
        )
        return builder

    return wrap(fn) if fn is not None else wrap


def get_entry(name: str) -> ModelEntry:
    """The registry entry of `name`; an unknown name raises `UnknownModelError` with close matches."""
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown model name={name!r}.{hint} `kzoo.list_models()` (`kzoo list`) lists all "
            f"{len(_REGISTRY)} registered models."
        )
    return _REGISTRY[name]


def create_model(name: str, weights=None, **kwargs: Any):
    """Build a registered model by name, optionally with trained weights.

    Args:
        name: a name from `list_models()`, e.g. `"resnet20"` or `"wrn_28_10"`.
        weights: None (random initialisation, as keras.applications' `weights=None`); a path: a
            `.weights.h5` or `.keras` file, a finished run directory, or an exported SavedModel
            version (`saved_models/<name>/<version>`; its variables are read, its graph is not);
            or a registered weights name of this model (`kzoo.models.weights_registry`, e.g.
            `"digits"`). Builder arguments the weights were trained with (`classes`,
            `input_shape`, family arguments) are the defaults of those not given. The weights
            are matched variable by variable (`kzoo.models.pretrained`): a layer that differs
            is refused by name; a `classes` other than the checkpoint's keeps a fresh classifier
            and warns (`ClassifierReplaced`).
        **kwargs: builder arguments (`classes`, `input_shape`, `include_top`, family arguments,
            ...). Without `classes` the head has 10 classes (1000 for the ImageNet ResNets).

    Example:
        >>> model = kzoo.create_model("resnet20", classes=10)
        >>> tuned = kzoo.create_model("resnet20", weights="digits", classes=5)  # new classifier
    """
    entry = get_entry(name)
    builder = entry.load_builder()
    check_builder_arguments(entry, builder, kwargs)
    source = None
    if weights is not None:
        from kzoo.models.pretrained import builder_defaults, resolve_weights

        source = resolve_weights(weights, model=name)  # refused before anything is built
        kwargs = builder_defaults(source, kwargs, model=name)
        check_builder_arguments(entry, builder, kwargs)
    if kwargs.get("include_top", True) and kwargs.get("classes") is None:
        kwargs["classes"] = entry.default_classes
    model = entry.builder(**kwargs)
    if source is not None:
        from kzoo.models.pretrained import load_pretrained

        load_pretrained(model, source)
    return model


def check_builder_arguments(entry: ModelEntry, builder: Callable, kwargs: Mapping) -> None:
    """Refuse (UserError) keywords the family builder does not take, naming the closest ones."""
    parameters = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    valid = [n for n, p in parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise UserError(
            f"create_model({entry.name!r}) got unknown argument(s) {', '.join(hints)}; the "
            f"{entry.family} builder takes {', '.join(valid)}."
        )


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted names of registered models, optionally filtered by an fnmatch pattern (`"wrn*"`)."""
    names = sorted(_REGISTRY)
    if pattern is None:
        return names
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
