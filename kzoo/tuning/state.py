"""keras-tuner's state files, written atomically and checked before they are read.

keras-tuner writes `oracle.json` and each `trial_<id>/trial.json` in place (a kill during the write
leaves a file no resume can read) and trusts the trial ids it reads back: a `trial.json` whose
`trial_id` is `"../../x"` makes it create directories outside the search folder. The oracles here are
keras-tuner's own with two changes: every state file is written to a temporary file, fsynced and
renamed (`kzoo.utils.files`), and before a search is reloaded every state file is checked -- size,
JSON, trial ids of digits only that match their folder, no symbolic links -- and a bad one is refused
in one line naming it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import keras_tuner as kt

from kzoo.utils.errors import UserError
from kzoo.utils.files import atomic_write_text, read_json

ORACLE_FILE = "oracle.json"
TRIAL_FILE = "trial.json"
# keras-tuner numbers trials "00", "01", ...; anything else did not come from it.
_TRIAL_ID = re.compile(r"[0-9]{1,12}")
_MAX_STATE_BYTES = 64 << 20


class SearchStateError(UserError):
    """A search folder whose state files kzoo will not let keras-tuner read."""


def check_trial_id(trial_id, where: str) -> str:
    """Return `trial_id` if it is keras-tuner's form (digits only); else SearchStateError."""
    if not isinstance(trial_id, str) or not _TRIAL_ID.fullmatch(trial_id):
        raise SearchStateError(
            f"{where} holds trial id {str(trial_id)[:40]!r}; keras-tuner's trial ids are digits. "
            "The search folder was modified by hand or by another program: restore it, or start "
            "afresh with --overwrite"
        )
    return trial_id


def check_search_folder(project_dir) -> None:
    """Refuse (SearchStateError) a search folder keras-tuner should not reload."""
    project_dir = Path(project_dir)
    if not project_dir.exists():
        return
    if project_dir.is_symlink() or not project_dir.is_dir():
        raise SearchStateError(f"search folder {str(project_dir)!r} is not a plain directory")
    for entry in os.scandir(project_dir):
        if not entry.name.startswith("trial_"):
            continue
        if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
            raise SearchStateError(f"{entry.path!r} is a link or not a directory; refusing to use it")
        state_file = Path(entry.path) / TRIAL_FILE
        if state_file.is_symlink():
            raise SearchStateError(f"{str(state_file)!r} is a link; refusing to read it")
        state = _read(state_file)
        if state is None:
            continue
        trial_id = check_trial_id(state.get("trial_id"), str(state_file))
        if entry.name != f"trial_{trial_id}":
            raise SearchStateError(
                f"{str(state_file)!r} says trial {trial_id!r} but lives in {entry.name!r}"
            )
    oracle_file = project_dir / ORACLE_FILE
    if oracle_file.is_symlink():
        raise SearchStateError(f"{str(oracle_file)!r} is a link; refusing to read it")
    oracle = _read(oracle_file)
    if oracle is None:
        return
    for key in ("retry_queue", "ongoing_trials", "start_order", "end_order"):
        value = oracle.get(key) or []
        # ongoing_trials maps tuner ids (chief, worker names) to trial ids.
        ids = list(value.values()) if isinstance(value, dict) else value
        if not isinstance(ids, list):
            raise SearchStateError(f"{str(oracle_file)!r}: {key} is not a list")
        for trial_id in ids:
            check_trial_id(trial_id, f"{oracle_file} ({key})")


def _read(path: Path):
    if not path.exists():
        return None
    state = read_json(path, max_bytes=_MAX_STATE_BYTES)
    if not isinstance(state, dict):
        raise SearchStateError(f"{str(path)!r} is not a keras-tuner state file (not an object)")
    return state


class AtomicStateMixin:
    """An Oracle whose `oracle.json` and `trial.json` files are replaced atomically.

    The overridden methods are keras-tuner 1.4's `Oracle.save`, `Oracle._save_trial` and
    `Oracle.reload`; pyproject.toml bounds keras-tuner to the releases this was checked against.
    """

    def save(self):
        atomic_write_text(self._get_oracle_fname(), json.dumps(self.get_state()))

    def _save_trial(self, trial):
        check_trial_id(trial.trial_id, "a new trial")
        path = os.path.join(self._get_trial_dir(trial.trial_id), TRIAL_FILE)
        atomic_write_text(path, json.dumps(trial.get_state()))

    def reload(self):
        check_search_folder(self._project_dir)
        super().reload()


class RandomSearchOracle(AtomicStateMixin, kt.oracles.RandomSearchOracle):
    """keras-tuner's random search oracle with atomic state files."""


class BayesianOptimizationOracle(AtomicStateMixin, kt.oracles.BayesianOptimizationOracle):
    """keras-tuner's Bayesian optimisation oracle with atomic state files."""


class HyperbandOracle(AtomicStateMixin, kt.oracles.HyperbandOracle):
    """keras-tuner's Hyperband oracle with atomic state files."""


class GridSearchOracle(AtomicStateMixin, kt.oracles.GridSearchOracle):
    """keras-tuner's grid search oracle with atomic state files."""
