"""Hyperparameter names and range overrides.

The HyperModels declare their default ranges with keras-tuner's own `hp.Float / hp.Int / hp.Choice`
calls under the names below. A user narrows or pins a range by registering the name first in a
`keras_tuner.HyperParameters` object passed to the tuner (keras-tuner then returns the registered
entry instead of the default one): `overrides_to_hyperparameters` builds that object from plain
values or command-line strings.

Override syntax (`kzoo tune --hp NAME=SPEC`, or the same strings / Python values in `overrides=`):

| SPEC                    | Python value           | keras-tuner entry                      |
|-------------------------|------------------------|----------------------------------------|
| `0.3`, `sgd`, `true`    | `0.3`, `"sgd"`, `True` | `hp.Fixed(name, value)`                |
| `sgd,adam` / `64,128`   | `["sgd", "adam"]`      | `hp.Choice(name, values)`              |
| `1e-4:1e-1:log`         | `(1e-4, 1e-1, "log")`  | `hp.Float(name, 1e-4, 1e-1, sampling="log")` |
| `0:0.5:0.1`             | `(0.0, 0.5, 0.1)`      | `hp.Float(name, 0, 0.5, step=0.1)`     |
| `64:512:64`             | `(64, 512, 64)`        | `hp.Int(name, 64, 512, step=64)`       |

A range whose bounds are both integers is an `hp.Int`; otherwise an `hp.Float`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras_tuner

# Names of the tuned hyperparameters (shared by every family that has the knob).
LEARNING_RATE = "learning_rate"
OPTIMIZER = "optimizer"
DROPOUT = "dropout"
WIDTH = "width"  # units per hidden layer (MLPs), filters of the first stage (plain CNN)
DEPTH = "depth"  # number of hidden layers (MLPs)
WIDEN_FACTOR = "widen_factor"  # k of a wide ResNet WRN-d-k (the builder's `widen_factor`)
GROWTH_RATE = "growth_rate"  # k of a DenseNet

SAMPLINGS = ("linear", "log", "reverse_log")
TUNERS = ("random", "bayesian", "hyperband", "grid")
OBJECTIVES = ("val_accuracy", "val_loss")


def _parse_scalar(text: str):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(text: str):
    """Turn one command-line SPEC string into the Python value `declare` accepts."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"A hyperparameter SPEC must be a non-empty string; received {text!r}.")
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(
                f"A range SPEC is MIN:MAX or MIN:MAX:STEP or MIN:MAX:{'|'.join(SAMPLINGS)}; "
                f"received {text!r}."
            )
        return tuple(p if p in SAMPLINGS else _parse_scalar(p) for p in parts)
    if "," in text:
        return [_parse_scalar(p) for p in text.split(",") if p.strip()]
    return _parse_scalar(text)


def parse_override(text: str) -> tuple[str, object]:
    """Split a `NAME=SPEC` command-line argument into `(name, value)`.

    Example:
        >>> parse_override("learning_rate=1e-4:1e-1:log")
        ('learning_rate', (0.0001, 0.1, 'log'))
    """
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(
            f"`--hp` takes NAME=SPEC, e.g. learning_rate=1e-4:1e-1:log or dropout=0.3; "
            f"received {text!r}."
        )
    name, spec = text.split("=", 1)
    name = name.strip()
    if not name:
        raise ValueError(f"`--hp` needs a hyperparameter name before '='; received {text!r}.")
    return name, parse_spec(spec)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def declare(hp, name: str, value) -> None:
    """Register `name` in `hp` as a Fixed, Choice, Int or Float entry described by `value`.

    Args:
        hp: the `keras_tuner.HyperParameters` to register into.
        name: the hyperparameter name, e.g. `LEARNING_RATE`.
        value: a scalar (Fixed), a list (Choice), a tuple `(min, max)` / `(min, max, step)` /
            `(min, max, sampling)` (Int when both bounds are integers, else Float), or a command-line
            SPEC string (see the module docstring).
    """
    if isinstance(value, str):
        value = parse_spec(value)
    if isinstance(value, tuple):
        if len(value) not in (2, 3) or not (_is_number(value[0]) and _is_number(value[1])):
            raise ValueError(
                f"Range for {name!r} must be (min, max), (min, max, step) or (min, max, sampling); "
                f"received {value!r}."
            )
        lo, hi = value[0], value[1]
        extra = value[2] if len(value) == 3 else None
        if lo >= hi:
            raise ValueError(f"Range for {name!r} needs min < max; received {value!r}.")
        step, sampling = None, "linear"
        if isinstance(extra, str):
            if extra not in SAMPLINGS:
                raise ValueError(
                    f"Sampling for {name!r} must be one of {SAMPLINGS}; received {extra!r}."
                )
            sampling = extra
            if sampling != "linear" and lo <= 0:
                raise ValueError(
                    f"{sampling!r} sampling for {name!r} needs min > 0; received {value!r}."
                )
        elif extra is not None:
            if not _is_number(extra) or extra <= 0:
                raise ValueError(f"Step for {name!r} must be a number > 0; received {extra!r}.")
            step = extra
        if isinstance(lo, int) and isinstance(hi, int) and (step is None or isinstance(step, int)):
            hp.Int(name, lo, hi, step=step, sampling=sampling)
        else:
            hp.Float(name, float(lo), float(hi), step=step, sampling=sampling)
    elif isinstance(value, list):
        if not value or len({type(v) for v in value}) != 1:
            raise ValueError(
                f"Choices for {name!r} must be a non-empty list of one type; received {value!r}."
            )
        hp.Choice(name, value)
    elif _is_number(value) or isinstance(value, (str, bool)):
        hp.Fixed(name, value)
    else:
        raise ValueError(
            f"Override for {name!r} must be a number, string, bool, list or tuple; "
            f"received {value!r} of type {type(value).__name__}."
        )


def overrides_to_hyperparameters(
    overrides: Mapping[str, object] | Sequence[str] | None,
    valid_names: Sequence[str] | None = None,
) -> keras_tuner.HyperParameters:
    """Build the `HyperParameters` that pin or narrow entries of a HyperModel's search space.

    Args:
        overrides: `{name: value}` (values as in `declare`) or `["name=SPEC", ...]` strings.
        valid_names: the names the HyperModel declares; any other name raises ValueError.

    Example:
        >>> hp = overrides_to_hyperparameters({"dropout": 0.3, "learning_rate": (1e-3, 1e-1, "log")})
    """
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    if not overrides:
        return hp
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    elif isinstance(overrides, (list, tuple)):
        items = [parse_override(text) for text in overrides]
    else:
        raise ValueError(
            "`overrides` must be a dict {name: value} or a list of 'NAME=SPEC' strings; "
            f"received {overrides!r}."
        )
    for name, value in items:
        if valid_names is not None and name not in valid_names:
            raise ValueError(
                f"Unknown hyperparameter {name!r} for this model; valid names: "
                f"{', '.join(sorted(valid_names))}."
            )
        declare(hp, name, value)
    return hp
