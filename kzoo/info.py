"""`model_info`: what a model is, how big and how costly, and what its paper reports."""

from __future__ import annotations

import math

import keras

from kzoo.counting import count_macs
from kzoo.registry import get_entry, list_models

IMAGENET_CLASSES = 1000
DEFAULT_CLASSES = 10  # the CIFAR-10 / MNIST / digits head


def default_classes(entry) -> int:
    """Head size used when none is given: 1000 for models published on ImageNet, else 10."""
    if any(key.startswith("imagenet") for key in entry.published):
        return IMAGENET_CLASSES
    return DEFAULT_CLASSES


def model_info(name_or_model, **kwargs) -> dict:
    """Describe a registered model (built from its name) or a built Keras model.

    Args:
        name_or_model: a name from `kzoo.list_models()` or a `keras.Model`.
        **kwargs: builder arguments when building by name (`classes`, `input_shape`, ...). Without
            `classes` (and with the default include_top=True), the head has 10 classes, or 1000
            for models published on ImageNet.

    Returns:
        A dict: `name`, `family`, `paper`, `trainable_params`, `non_trainable_params`, `macs`,
        `flops` (2 * MACs), `input_shape`, `output_shape` (no batch axis), `published` (the
        paper's results, e.g. `{"cifar10_error": 8.75}`) and `build_kwargs` (the arguments the
        model was built with; None for a given model). For a model not built by name, `family`,
        `paper` and `published` come from the registry entry of the same name, if any.

    Example:
        >>> info = kzoo.model_info("resnet20")
        >>> info["trainable_params"], info["macs"]
        (269722, 40551040)
    """
    if isinstance(name_or_model, keras.Model):
        if kwargs:
            raise ValueError(
                "builder arguments apply only when building by name; received a built model and "
                f"{sorted(kwargs)}."
            )
        model, build_kwargs = name_or_model, None
        entry = get_entry(model.name) if model.name in list_models() else None
    elif isinstance(name_or_model, str):
        entry = get_entry(name_or_model)
        build_kwargs = dict(kwargs)
        if build_kwargs.get("include_top", True) and build_kwargs.get("classes") is None:
            build_kwargs["classes"] = default_classes(entry)
        model = entry.builder(**build_kwargs)
    else:
        raise ValueError(
            "`name_or_model` must be a registered model name or a keras.Model; received "
            f"{type(name_or_model).__name__}."
        )
    macs = count_macs(model)
    return {
        "name": entry.name if entry else model.name,
        "family": entry.family if entry else None,
        "paper": entry.paper if entry else None,
        "trainable_params": _count(model.trainable_weights),
        "non_trainable_params": _count(model.non_trainable_weights),
        "macs": macs,
        "flops": 2 * macs,
        "input_shape": _shapes(model.inputs),
        "output_shape": _shapes(model.outputs),
        "published": dict(entry.published) if entry else {},
        "build_kwargs": build_kwargs,
    }


def _count(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _shapes(tensors):
    shapes = [tuple(t.shape[1:]) for t in tensors]
    return shapes[0] if len(shapes) == 1 else shapes


def format_info(info: dict) -> str:
    """The `model_info` dict as aligned `key: value` lines (what `kzoo info` prints)."""
    rows = {
        "name": info["name"],
        "family": info["family"],
        "paper": info["paper"],
        "trainable params": f"{info['trainable_params']:,}",
        "non-trainable params": f"{info['non_trainable_params']:,}",
        "MACs": f"{info['macs']:,} ({human(info['macs'])})",
        "FLOPs": f"{info['flops']:,} ({human(info['flops'])})",
        "input shape": info["input_shape"],
        "output shape": info["output_shape"],
        "published": format_published(info["published"]) or "-",
    }
    if info.get("build_kwargs"):
        rows["built with"] = ", ".join(f"{k}={v!r}" for k, v in info["build_kwargs"].items())
    width = max(map(len, rows))
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in rows.items())


_DATASETS = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "imagenet_top1": "ImageNet top-1",
    "imagenet_top5": "ImageNet top-5",
    "mnist": "MNIST",
    "svhn": "SVHN",
}
_OTHER_RESULTS = {"uci121_avg_rank_diff": "UCI-121 average rank difference"}


def format_published(published: dict) -> str:
    """`{"cifar10_error": 6.43}` -> `"CIFAR-10 6.43%"`; other results as `label value`."""
    parts = []
    for key, value in published.items():
        if key.endswith("_error"):
            dataset = key[: -len("_error")]
            parts.append(f"{_DATASETS.get(dataset, dataset)} {value:.2f}%")
        else:
            parts.append(f"{_OTHER_RESULTS.get(key, key)} {value:g}")
    return "; ".join(parts)


def human(n) -> str:
    """1234567 -> '1.23M'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)
