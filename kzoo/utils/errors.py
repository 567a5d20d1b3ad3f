"""`UserError`: a user's mistake or a refusal, shown as one line with no traceback.

kzoo's commands catch `UserError` (and ValueError, which it subclasses, so `except ValueError` keeps
working for Python callers) and print `kzoo <command>: error: <message>` with exit status 2. A
`SettingError` names a declared setting; the command line spells it as the flag the user typed
(`--lr`), Python as the keyword (`learning_rate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NOTHING = object()


class UserError(ValueError):
    """A mistake in what the user asked for, or a refusal to do it: one line, exit status 2."""


class SettingError(UserError):
    """A setting with a bad value.

    Args:
        template: the rule, with `{name}` placeholders for the settings it names, e.g.
            `"{learning_rate} must be > 0"`.
        names: the setting whose value is shown first; every `{name}` in `template` and `hint` is
            a setting too.
        value: the value received (omitted: no "received" part).
        owner: the settings class the names belong to (their flags may differ between classes).
        hint: what to do instead, appended as its own sentence.

    Example:
        >>> err = SettingError("{learning_rate} must be > 0", names=("learning_rate",), value=-1)
        >>> str(err)
        'learning_rate must be > 0; received learning_rate=-1.'
        >>> err.render({"learning_rate": "--lr"})
        '--lr must be > 0; received -1.'
    """

    def __init__(self, template: str, *, names, value=_NOTHING, owner=None, hint: str = ""):
        self.template = template
        placeholders = re.findall(r"{([A-Za-z_][A-Za-z0-9_]*)}", template + hint)
        self.names = tuple(dict.fromkeys([*names, *placeholders]))
        self.value = value
        self.owner = owner
        self.hint = hint
        super().__init__(self.render())

    def render(self, flags: Mapping[str, str] | None = None) -> str:
        """The message with each setting spelled as `flags[name]` (command line) or its name."""
        flags = flags or {}
        spelled = {n: flags.get(n, n) for n in self.names}
        text = _fill(self.template, spelled)
        if self.value is not _NOTHING:
            first = self.names[0] if self.names else None
            on_cli = first in flags
            subject = "" if on_cli or first is None else f"{first}="
            text += f"; received {subject}{_show(self.value, on_cli)}"
        text += "."
        if self.hint:
            text += " " + _fill(self.hint, spelled)
        return text


def _fill(template: str, spelled: Mapping[str, str]) -> str:
    # str.format would choke on braces inside the rule text (a dict shown as a valid value, say).
    for name, shown in spelled.items():
        template = template.replace("{" + name + "}", shown)
    return template


def _show(value, on_cli: bool) -> str:
    if on_cli and isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value) or "(none)"
    if on_cli and isinstance(value, str):
        return repr(value)
    return repr(value)
