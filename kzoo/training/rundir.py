"""The run directory: one config per directory, atomic file writes.

Layout of a run directory:
    config.json          the config and its fingerprint (written first)
    normalization.json   data mean/std, input shape, class names (for the serving signature)
    checkpoint/          weights + optimiser state + epoch after every epoch (resume point)
    best.weights.h5      best weights so far (early stopping only)
    logs/                TensorBoard (train/, validation/, diagnostics/)
    history.csv|json     one row per finished epoch
    diagnostics.json     per-layer statistics (opt-in)
    snapshots/           snapshot-k.weights.h5 per cosine cycle (snapshot ensembles, opt-in)
    curves.png           loss / accuracy curves
    model.keras          the final model
    metrics.json         final test metrics (written last: its presence marks a finished run)
    .kzoo.lock(.json)    the write lock and its holder (PID, host) while a process trains

One process writes a run directory at a time (`run_dir_lock`). kzoo follows no link inside a run
directory: a symbolic link in place of one of its files or folders (or anywhere under checkpoint/
and logs/) is refused by name before anything is read or written, and `overwrite` removes the link
itself, never what it points to. A `run_dir` that is itself a link is followed: it is the path the
user chose.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from kzoo.utils.errors import SettingError, UserError
from kzoo.utils.files import atomic_write_json, is_storage_fault, read_json, storage_error
from kzoo.utils.locks import HOLDER_FILE, LOCK_FILE, folder_lock

CONFIG = "config.json"
METRICS = "metrics.json"


def check_run_dir(config, replicas: int = 1) -> str:
    """Decide what to do with `config.run_dir` without writing anything.

    `replicas` is the number of replicas training will use: a run whose global batch depends on it
    (`config.per_replica_batch`) resumes only with as many replicas as it started with.

    Returns "new" (absent or empty), "resume" (same config), "finished" (same config, run complete),
    "extend" (the same config but more `epochs`, on a schedule that allows continuing: see
    `extension_refusal`) or "overwrite" (a different config with `config.overwrite`: kzoo's files
    will be replaced). The same config always resumes, and an allowed extension always continues,
    `overwrite` or not, so rerunning a command after a crash never throws finished epochs away;
    delete the directory to start that run afresh. Raises ValueError for a directory made by a
    different config (unless `config.overwrite`; naming why when only the epochs changed) and for
    a non-empty directory that is not a run directory (always).
    """
    run_dir = Path(config.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(
            f"`run_dir` must be a directory; received run_dir={str(run_dir)!r} (a file)."
        )
    if not run_dir.exists() or all(
        e.name in (LOCK_FILE, HOLDER_FILE) or is_leftover(e.name) for e in run_dir.iterdir()
    ):
        return "new"  # empty, or holding only what a process killed while starting left
    links = linked_entries(run_dir)
    if run_dir / CONFIG in links:
        raise _link_error(run_dir / CONFIG)
    saved = read_json(run_dir / CONFIG)
    if saved is None:
        raise ValueError(
            f"run_dir={str(run_dir)!r} is not empty and holds no {CONFIG}: it is not a kzoo run "
            "directory, so nothing will be written there. Choose another run_dir."
        )
    if not isinstance(saved, dict):
        raise UserError(f"{str(run_dir / CONFIG)!r} is not a kzoo run config; choose another run_dir")
    state = "resume"
    if saved.get("fingerprint") != config.fingerprint():
        diffs = config.differences(saved.get("config", {}))
        why = extension_refusal(config, diffs) if "epochs" in diffs else None
        if why == "":
            state = "extend"
        elif config.overwrite:
            return "overwrite"  # the links go with kzoo's other files, their targets stay
        elif why is not None:
            # Settings as placeholders: the command line shows the flags, Python the names.
            raise SettingError(
                f"{{run_dir}} {str(run_dir)!r} holds a run of {diffs['epochs'][0]} epochs that "
                f"{{epochs}} {config.epochs} cannot continue: {why}",
                names=("epochs", "run_dir"), owner=type(config),
                hint="Use another {run_dir}, or pass {overwrite} to start it afresh.",
            )
        else:
            shown = "; ".join(f"{{{k}}}: {old!r} -> {new!r}" for k, (old, new) in sorted(diffs.items()))
            raise SettingError(
                f"{{run_dir}} {str(run_dir)!r} holds a run made by a different config "
                f"({shown or 'changed'})",
                names=("run_dir", *sorted(diffs)), owner=type(config),
                hint="Use another {run_dir}, or pass {overwrite} to replace that run.",
            )
    if links:
        raise _link_error(links[0])
    started = saved.get("replicas", 1)
    if config.per_replica_batch and started != replicas:
        raise ValueError(
            f"run_dir={str(run_dir)!r} was started with {started} replica(s) and "
            f"per_replica_batch=True (global batch {config.batch_size * started}); resuming it "
            f"with {replicas} would change the global batch. Resume with {started} replica(s), "
            "or use another run_dir."
        )
    if state == "extend":
        return state
    return "finished" if (run_dir / METRICS).exists() else "resume"


def extension_refusal(config, diffs: dict) -> str | None:
    """Whether a run whose config differs from `config` by `diffs` (`Settings.differences`) may be
    continued to `config.epochs`: "" if it may, the reason if only the epochs (and the milestones
    derived from them) changed but it may not, None if other settings changed too.

    Continuing a run of E epochs to E' > E gives the weights of an uninterrupted E'-epoch run
    when the learning rate of the first E epochs does not depend on E' (each epoch's data already
    depends only on (seed, epoch)): a constant rate, inverse_sqrt (defined in optimisation steps),
    warm-up (in steps) and multistep decays at unchanged milestones. Cosine decays over the planned
    steps, so a longer run has had other rates from its first step.
    """
    if not set(diffs) <= {"epochs", "milestones"}:
        return None
    old, new = diffs["epochs"]
    if not isinstance(old, int) or new < old:
        return f"a run's epochs can grow, not shrink (it has {old}, epochs={new} is fewer)"
    if "milestones" in diffs:
        before = tuple(diffs["milestones"][0] or ())
        return (
            f"its multistep milestones would move from {before} to {tuple(config.milestones)} "
            "(the default milestones follow --epochs), which changes the learning rate of epochs "
            f"already run; give the run's own milestones, --milestones {' '.join(map(str, before))}"
        )
    if config.schedule == "cosine":
        return (
            f"its cosine schedule decays over the planned {old} epochs, so continuing to {new} "
            "would change the learning rate of the epochs already run (extendable: constant, "
            "inverse_sqrt, multistep)"
        )
    if config.weight_averaging == "swa":
        import math

        first, then = math.floor(config.swa_start * old), math.floor(config.swa_start * new)
        if first != then:
            return (
                f"its --weight-averaging swa averages from --swa-start {config.swa_start} of the "
                f"planned epochs (from epoch {first + 1} of {old}; of {new}: from epoch "
                f"{then + 1}), so continuing would average other epochs than a run of {new}"
            )
    return ""


# What a training run writes into its directory; "overwrite" removes these and nothing else.
RUN_ENTRIES = (
    CONFIG, METRICS, "history.json", "history.csv", "normalization.json", "curves.png",
    "model.keras", "best.weights.h5", "diagnostics.json", "checkpoint", "logs",
    "snapshots",
)


def is_leftover(name: str) -> bool:
    """Whether `name` is a temporary file kzoo writes in a run directory (left by a killed process):
    `.tmp-<pid>-<entry>` (`atomic_save`) or `.<entry>.<random>.tmp` (`atomic_write_bytes`)."""
    if name.startswith(".tmp-"):
        return name[len(".tmp-"):].partition("-")[2] in RUN_ENTRIES
    if name.startswith(".") and name.endswith(".tmp"):
        return name[1:].rsplit(".", 2)[0] in (*RUN_ENTRIES, HOLDER_FILE)
    return False


def linked_entries(run_dir) -> list[Path]:
    """kzoo's entries of `run_dir` that are symbolic links, and any link under checkpoint/ and logs/."""
    run_dir = Path(run_dir)
    found = [run_dir / name for name in RUN_ENTRIES if (run_dir / name).is_symlink()]
    for folder in ("checkpoint", "logs", "snapshots"):
        top = run_dir / folder
        if top.is_symlink() or not top.is_dir():
            continue
        for parent, dirs, files in os.walk(top):  # os.walk does not descend into linked folders
            found += [Path(parent, n) for n in sorted(dirs + files) if Path(parent, n).is_symlink()]
    return found


def _link_error(path: Path) -> UserError:
    return UserError(
        f"{str(path)!r} is a symbolic link; kzoo reads and writes only the run directory's own "
        "files, never through a link: remove the link (or use another run_dir) and rerun"
    )


@contextmanager
def run_dir_lock(run_dir):
    """Hold the run directory's write lock (`kzoo.utils.locks.folder_lock`) for the block.

    Raises:
        FolderBusyError: another live process trains in `run_dir` (its PID and host named).
        StorageError: the lock cannot be written (read-only file system, no space, permissions).
    """
    try:
        with folder_lock(run_dir, what="run directory") as folder:
            yield folder
    except OSError as err:
        if is_storage_fault(err):
            raise storage_error(err, Path(run_dir) / LOCK_FILE, what="lock") from err
        raise


def _remove_run_files(run_dir: Path, keep=(CONFIG,)) -> None:
    """Delete kzoo's entries and leftover temporary files; keep everything else.

    config.json is kept for `prepare_run_dir` to replace (atomically) once the rest is gone: a
    process killed half-way leaves a directory that is still recognisably a run directory, and
    the same command (with `overwrite`) goes on removing.
    """
    for entry in run_dir.iterdir():
        if entry.name in keep or not (entry.name in RUN_ENTRIES or is_leftover(entry.name)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)  # does not follow links inside
        else:
            entry.unlink()  # a link itself, never its target


def prepare_run_dir(config, state: str, replicas: int = 1) -> Path:
    """Create (or, for "overwrite", empty) the run directory and write config.json.

    A resumed run directory loses the temporary files a killed process left in it. An extended
    one ("extend") loses what marks it finished (metrics.json first, then model.keras) and then
    gets its new config.json: a kill in between leaves an unfinished run of the old config, which
    the same command extends again and the old command finishes again.
    """
    run_dir = Path(config.run_dir)
    try:
        if state == "overwrite":
            _remove_run_files(run_dir)
        elif state in ("resume", "extend"):
            _remove_run_files(run_dir, keep=RUN_ENTRIES)
        if state == "extend":
            for name in (METRICS, "model.keras"):
                if os.path.lexists(run_dir / name):
                    (run_dir / name).unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if is_storage_fault(err):
            raise storage_error(err, run_dir, what="prepare") from err
        raise
    if state in ("new", "overwrite", "extend"):
        record = {"fingerprint": config.fingerprint(), "config": config.to_dict(),
                  "replicas": replicas}
        if state == "extend":
            saved = read_json(run_dir / CONFIG, default={}) or {}
            record["replicas"] = saved.get("replicas", replicas)
            before = saved.get("config", {}).get("epochs")
            record["extended_from"] = [*saved.get("extended_from", []), before]
        atomic_write_json(run_dir / CONFIG, record)
    return run_dir

