"""The command-line contract every kzoo command and recipe follows.

- A user's mistake or a refusal is one line on stderr, `<prog>: error: <what>; received <value>.
  <what to do>`, and exit status 2 -- before any graph is built or file is written. Settings are
  named as the user typed them (`--lr`, not `learning_rate`). Unknown flags suggest the closest.
- `--debug` or `KZOO_DEBUG=1` shows the traceback instead.
- Ctrl-C ends with one line (training says after which epoch and how to resume) and exit status 130.
- A traceback is left for kzoo's own bugs.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from kzoo.utils.errors import SettingError, UserError

DEBUG_ENV = "KZOO_DEBUG"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_KZOO_ROOT = Path(__file__).resolve().parents[1]
_RECIPES_ROOT = _KZOO_ROOT.parent / "recipes"
# Errors a function raises about its arguments or files it was pointed at; they count as the
# user's when kzoo itself raised them (not when a library did, deep inside: that is a bug).
_ARGUMENT_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
                    IsADirectoryError)


class ArgumentParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` with kzoo's one-line errors.

    `setting_flags` maps a settings class to `{field: flag}` for the options declared by
    `kzoo.utils.settings.add_arguments`, so errors about a setting name the flag.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setting_flags: dict[type, dict[str, str]] = {}

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            message += _suggestion(self, message.split(":", 1)[1].split())
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            valid = [c.strip(" '") for c in choice[2].split(",")]
            close = difflib.get_close_matches(choice[1], valid, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]}?"
        message += f" (see {self.prog} --help)"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        """As argparse, but unknown options are reported by the subcommand that was chosen (its
        name in the message, its options in the suggestion)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            chosen = self._chosen_subparser(parsed)
            (chosen or self).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _chosen_subparser(self, parsed):
        """The (innermost) subcommand parser `parsed` came from, or None."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                name = getattr(parsed, action.dest, None)
                sub = action.choices.get(name) if name else None
                if isinstance(sub, ArgumentParser):
                    return sub._chosen_subparser(parsed) or sub
        return None

    def flags_for(self, owner) -> dict[str, str]:
        """The flags of `owner`'s settings on this parser or one of its subcommands."""
        found = dict(self.setting_flags.get(owner, {}))
        for action in self._subparsers._group_actions if self._subparsers else ():
            for sub in getattr(action, "choices", {}).values():
                if isinstance(sub, ArgumentParser):
                    found = {**sub.flags_for(owner), **found}
        return found


def _suggestion(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    options = [s for a in parser._actions for s in a.option_strings]
    hints = []
    for word in unknown:
        if not word.startswith("-"):
            continue
        close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1, cutoff=0.6)
        if close:
            hints.append(close[0])
    return f"; did you mean {', '.join(hints)}?" if hints else ""


def is_user_error(err: BaseException) -> bool:
    """True for a `UserError`, or an argument error that kzoo's own code raised."""
    if isinstance(err, UserError):
        return True
    if not isinstance(err, _ARGUMENT_ERRORS) or isinstance(err, UnicodeError):
        return False
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    if last is None:
        return False
    path = Path(last).resolve()
    return _KZOO_ROOT in path.parents or _RECIPES_ROOT in path.parents


def debug_requested(argv=None) -> bool:
    """`--debug` on the command line or KZOO_DEBUG=1 in the environment."""
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def message_of(err: BaseException, parser: ArgumentParser | None = None) -> str:
    """The one-line message of a user error, settings spelled as their flags on `parser`."""
    if isinstance(err, SettingError) and parser is not None:
        text = err.render(parser.flags_for(err.owner))
    elif isinstance(err, OSError) and err.filename and not isinstance(err, UserError):
        text = f"{err.strerror or err}: {err.filename!r}" if err.strerror else str(err)
    else:
        text = str(err)
    return " ".join(text.split()) if "\n" not in text.strip() else _first_and_rest(text)


def _first_and_rest(text: str) -> str:
    # Messages that list several offending entries keep their list; everything else is one line.
    return text.strip()


def run(prog: str, body: Callable[[], int], parser: ArgumentParser | None = None,
        argv=None) -> int:
    """Run `body` under the contract: user errors in one line (exit 2), Ctrl-C in one line
    (exit 130), anything else as a traceback (a bug). `--debug` / KZOO_DEBUG=1 re-raises."""
    debug = debug_requested(argv)
    try:
        with _kzoo_warnings_as_notes(prog):
            return body()
    except KeyboardInterrupt as err:
        if debug:
            raise
        detail = str(err) if str(err) else "interrupted"
        print(f"{prog}: {detail}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BaseException as err:
        if debug or not is_user_error(err):
            raise
        print(f"{prog}: error: {message_of(err, parser)}", file=sys.stderr)
        return EXIT_USAGE


@contextlib.contextmanager
def _kzoo_warnings_as_notes(prog: str):
    """Warnings kzoo issues (e.g. `ClassifierReplaced`) show as `<prog>: note: <message>`, one
    line; other libraries' warnings are shown as Python shows them."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if getattr(category, "__module__", "").startswith("kzoo."):
            print(f"{prog}: note: {message}", file=sys.stderr)
            return
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """`--debug`: show tracebacks (also KZOO_DEBUG=1)."""
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (also KZOO_DEBUG=1)"
    )
