"""Settings declared once: a dataclass field helper from which validation, command-line flags, the JSON
form and the run fingerprint all derive.

A settings class is a dataclass whose fields are made with `setting(...)`: the field's annotation
gives its type; `setting` gives its default, help text, group, flag spelling, range or choices and
whether it is part of the fingerprint. `validate_fields` checks every value against its declaration
and raises `SettingError` naming the field (the command line shows the flag instead); `add_arguments`
adds one argparse option per field; `to_dict` / `from_dict` / `fingerprint` follow the same list.

Why not pydantic, simple-parsing or tyro: kzoo needs exactly one thing they do not give together --
an error that names the flag the user typed -- and the three cost 0.1-0.5 s of import time on
every command (measured here), while this module is ~250 lines over `dataclasses` and `argparse`.

Example:
    >>> @dataclass
    ... class Opt(Settings):
    ...     learning_rate: float = setting(0.1, "initial learning rate", group="optimisation",
    ...                                    flag="--lr", low=0.0, low_open=True)
    >>> Opt(learning_rate=-1).validate_fields()
    Traceback (most recent call last):
    SettingError: learning_rate must be > 0; received learning_rate=-1.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from kzoo.utils import checks
from kzoo.utils.errors import SettingError

GROUPS = {
    "search": "search",
    "data": "data",
    "model": "model",
    "optimisation": "optimisation",
    "regularisation": "regularisation",
    "run": "run",
    "distribution": "distribution",
}
_KEY = "kzoo.setting"
#: The default of a setting that has none: the caller must give it.
REQUIRED = dataclasses.MISSING


@dataclass(frozen=True)
class Spec:
    """The declaration of one setting (see `setting`)."""

    help: str
    group: str
    flag: str | None = ""
    choices: tuple | None = None
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    fingerprint: bool | str = True
    metavar: str | None = None
    repeat: bool = False


def setting(
    default,
    help: str,
    *,
    group: str,
    flag: str | None = "",
    choices=None,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    fingerprint: bool | str = True,
    metavar: str | None = None,
    repeat: bool = False,
):
    """A dataclass field declaring one setting.

    Args:
        default: the default value (lists, dicts and sets are copied per instance); `REQUIRED`
            for a setting the caller must give.
        help: one line for `--help`.
        group: one of `GROUPS` (data, model, optimisation, regularisation, run, distribution, search).
        flag: the command-line spelling; "" derives `--name-with-dashes`, None gives no flag.
        choices: the valid values (checked by `validate_fields`, listed in errors).
        low, high, low_open, high_open: the valid interval of a number (closed by default).
        fingerprint: True: part of the run fingerprint; False: not (paths, verbosity);
            "if_set": only when it differs from the default (a field added after runs existed,
            so that their fingerprints, and their resumes, survive).
        metavar: the value's name in `--help`.
        repeat: the flag may be given several times; the values are collected in a list.
    """
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}; received group={group!r}.")
    spec = Spec(help, group, flag, tuple(choices) if choices is not None else None, low, high,
                low_open, high_open, fingerprint, metavar, repeat)
    metadata = {_KEY: spec}
    if default is REQUIRED:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Declared:
    """A declared field: its name, declaration, type, optionality and default."""

    name: str
    spec: Spec
    kind: Any  # int, float, str, bool, dict, tuple or object (anything)
    optional: bool
    default: Any
    item: Any = int  # the element type of a tuple setting (int or str)

    @property
    def flag(self) -> str | None:
        if self.spec.flag is None:
            return None
        return self.spec.flag or "--" + self.name.replace("_", "-")


def declared(cls) -> list[Declared]:
    """The declared settings of a settings class, in field order."""
    cache = cls.__dict__.get("_declared_cache")
    if cache is not None:
        return cache
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_KEY)
        if spec is None:
            continue
        kind, optional, item = _kind(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        out.append(Declared(f.name, spec, kind, optional, default, item))
    cls._declared_cache = out
    return out


def _kind(hint) -> tuple[Any, bool, Any]:
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0] if len(args) == 1 else object
        origin = typing.get_origin(hint)
    if hint in (int, float, str, bool):
        return hint, optional, None
    if origin is tuple or hint is tuple:
        args = typing.get_args(hint)
        return tuple, optional, args[0] if args and args[0] in (int, str) else int
    if origin is dict or hint is dict:
        return dict, optional, None
    return object, optional, None


class Settings:
    """Mixin of a settings dataclass: validation, JSON form and fingerprint from the declarations."""

    def validate_fields(self):
        """Check every declared field against its declaration; raise SettingError naming the first
        bad one. Returns self."""
        owner = type(self)
        for d in declared(owner):
            value = getattr(self, d.name)
            if value is None and d.optional:
                continue
            if d.spec.choices is not None:
                checks.check_choice(d.name, value, d.spec.choices, owner=owner)
                continue
            if d.kind is bool:
                checks.check_bool(d.name, value, owner=owner)
            elif d.kind is int:
                low = None if d.spec.low == -math.inf else math.floor(d.spec.low) + int(d.spec.low_open)
                high = None if d.spec.high == math.inf else math.ceil(d.spec.high) - int(d.spec.high_open)
                checks.check_int(d.name, value, low, high, owner=owner)
            elif d.kind is float:
                checks.check_number(d.name, value, d.spec.low, d.spec.high, low_open=d.spec.low_open,
                                    high_open=d.spec.high_open, owner=owner)
            elif d.kind is str:
                if not isinstance(value, str):
                    raise SettingError("{" + d.name + "} must be a string", names=(d.name,),
                                       value=value, owner=owner)
            elif d.kind is dict:
                if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                    raise SettingError("{" + d.name + "} must be a dict with string keys",
                                       names=(d.name,), value=value, owner=owner)
            elif d.kind is tuple:
                valid = checks.is_int if d.item is int else (lambda v: isinstance(v, str))
                if not isinstance(value, (tuple, list)) or not all(valid(v) for v in value):
                    what = "integers" if d.item is int else "strings"
                    raise SettingError("{" + d.name + "} must be a sequence of " + what,
                                       names=(d.name,), value=value, owner=owner)
        return self

    def error(self, template: str, *names: str, hint: str = "", **value) -> SettingError:
        """A `SettingError` about this object's settings `names` (the first one's value shown
        unless `value=` is given)."""
        shown = value["value"] if "value" in value else getattr(self, names[0])
        return SettingError(template, names=names, value=shown, owner=type(self), hint=hint)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (tuples become lists, paths strings)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = _jsonable(value)
        return out

    @classmethod
    def from_dict(cls, data: dict, **changes):
        """An instance from a `to_dict()` (tuple fields restored; keys it does not declare ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kinds = {d.name: d.kind for d in declared(cls)}
        values = {k: v for k, v in {**data, **changes}.items() if k in names}
        for k, v in values.items():
            if kinds.get(k) is tuple and isinstance(v, list):
                values[k] = tuple(v)
        return cls(**values)

    def fingerprint_fields(self) -> dict[str, Any]:
        """The fields that decide the result, as the fingerprint hashes them."""
        data = self.to_dict()
        out = {}
        for d in declared(type(self)):
            if d.spec.fingerprint is False:
                continue
            if d.spec.fingerprint == "if_set" and data[d.name] == _jsonable(d.default):
                continue
            out[d.name] = data[d.name]
        return out

    def fingerprint(self) -> str:
        """SHA-256 of `fingerprint_fields` (JSON with sorted keys)."""
        text = json.dumps(self.fingerprint_fields(), sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def differences(self, other: dict[str, Any]) -> dict[str, tuple]:
        """Fingerprinted fields whose value differs from `other` (a `to_dict()` of another
        instance): `{name: (other's value, this value)}`."""
        mine = self.fingerprint_fields()
        out = {}
        for d in declared(type(self)):
            if d.spec.fingerprint is False:
                continue
            theirs = other.get(d.name, _jsonable(d.default))
            new = mine.get(d.name, _jsonable(d.default))
            if json.dumps(theirs, default=repr) != json.dumps(new, default=repr):
                out[d.name] = (theirs, new)
        return out


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "__fspath__"):
        return str(value.__fspath__())
    return value


# ----------------------------------------------------------------------------- command line


def add_arguments(
    parser: argparse.ArgumentParser,
    cls,
    *,
    defaults: dict | None = None,
    skip=(),
    only=None,
    flags: dict[str, str] | None = None,
    dest_prefix: str = "",
) -> dict[str, str]:
    """Add one option per declared setting of `cls` to `parser`; return `{field: flag}`.

    Options default to `argparse.SUPPRESS`, so only the options given reach the namespace (a
    recipe's defaults then fill the rest). Help texts end with the default in effect
    (`defaults[name]`, else the declaration's).

    Args:
        parser: the parser (options go into one argument group per settings group).
        cls: the settings class.
        defaults: the defaults this command uses, shown in `--help`.
        skip, only: field names to leave out / to keep.
        flags: spellings that replace the declared ones on this command, `{field: "--flag"}`.
        dest_prefix: prefix of the namespace attributes (keeps two classes' fields apart).
    """
    defaults = defaults or {}
    flags = flags or {}
    groups = _argument_groups(parser)
    added = {}
    for d in declared(cls):
        flag = flags.get(d.name, d.flag)
        if flag is None or d.name in skip or (only is not None and d.name not in only):
            continue
        group = groups[d.spec.group]
        default = defaults.get(d.name, d.default)
        shown = "" if default in (None, dataclasses.MISSING, "", {}, ()) else f" [{_show(default)}]"
        help_text = d.spec.help + ("" if d.kind is bool else shown)
        listed = [str(c) for c in d.spec.choices or () if c is not None]
        if listed and not all(c in d.spec.help for c in listed):
            help_text += f" (one of {', '.join(listed)})"
        common = dict(dest=dest_prefix + d.name, default=argparse.SUPPRESS, help=help_text)
        metavar = d.spec.metavar or flag.lstrip("-").upper().replace("-", "_")
        if d.kind is bool and d.optional:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif d.kind is bool and (default is True or flag.startswith("--no-")):
            flag = flag if flag.startswith("--no-") else "--no-" + flag[2:]
            common["help"] = "turn off: " + d.spec.help
            group.add_argument(flag, action="store_false", **common)
        elif d.kind is bool:
            group.add_argument(flag, action="store_true", **common)
        elif d.spec.repeat:  # --hp a=1 --hp b=2
            group.add_argument(flag, action="append", metavar=metavar, **common)
        elif d.kind is tuple:
            group.add_argument(flag, nargs="+", type=_parse(d.item, flag),
                               metavar=d.spec.metavar or "N", **common)
        elif d.kind is dict:
            group.add_argument(flag, action=_KeyValue, metavar=d.spec.metavar or "NAME=VALUE",
                               **common)
        else:
            kind = d.kind if d.kind in (int, float) else str
            group.add_argument(flag, type=_parse(kind, flag), metavar=metavar, **common)
        added[d.name] = flag
    if hasattr(parser, "setting_flags"):  # kzoo.utils.cli.ArgumentParser: errors name the flags
        parser.setting_flags.setdefault(cls, {}).update(added)
    return added


def _argument_groups(parser) -> dict:
    # One argparse group per settings group, made once per parser in GROUPS order, so that the
    # options of several settings classes (TrainConfig, TuneConfig, ...) share them in --help.
    groups = parser.__dict__.get("_kzoo_setting_groups")
    if groups is None:
        groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
        parser._kzoo_setting_groups = groups
    return groups


def given(args: argparse.Namespace, cls, dest_prefix: str = "") -> dict[str, Any]:
    """The values of `cls`'s settings present in `args` (those the user gave)."""
    out = {}
    for d in declared(cls):
        key = dest_prefix + d.name
        if hasattr(args, key):
            value = getattr(args, key)
            if d.kind is tuple and isinstance(value, list):
                if d.item is str:  # `--models a,b c` and `--models a b c` alike
                    value = [part for v in value for part in str(v).split(",") if part]
                value = tuple(value)
            out[d.name] = value
    return out


def _show(value) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value)


def _parse(kind, flag):
    names = {int: "an integer", float: "a number", str: "a string"}

    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {names[kind]}; received {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


class _KeyValue(argparse.Action):
    """`--flag NAME=VALUE` (repeatable) into a dict; VALUE is read as JSON when it parses (0.3,
    true, [1, 2]) and as a string otherwise (relu)."""

    def __call__(self, parser, namespace, values, option_string=None):
        name, sep, text = values.partition("=")
        if not sep or not name.isidentifier():
            raise argparse.ArgumentError(self, f"must be NAME=VALUE; received {values!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        current = dict(getattr(namespace, self.dest, None) or {})
        current[name] = value
        setattr(namespace, self.dest, current)
