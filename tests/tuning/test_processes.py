"""`kzoo tune` as separate processes: killed and resumed; a chief with two workers."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from kzoo.tuning.distributed import free_port

HP = ["--hp", "width=16:256:16", "--hp", "optimizer=adam", "--hp", "learning_rate=0.01", "--hp", "dropout=0.0"]
TIMEOUT = 600


def _command(tmp_path, project, *extra):
    return [
        sys.executable, "-m", "kzoo.cli", "tune", "plain_mlp", "--dataset", "digits",
        "--trial-epochs", "1", "--batch-size", "64", "--no-retrain",
        "--tune-dir", str(tmp_path), "--project", project, *HP, *extra,
    ]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


def _statuses(project_dir):
    out = {}
    for path in project_dir.glob("trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):  # being written
            continue
        out[trial["trial_id"]] = trial["status"]
    return out


def _finish(proc, log):
    try:
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return log.read_text()


@pytest.mark.slow
def test_tune_command_killed_with_sigkill_resumes_without_repeating_finished_trials(tmp_path):
    cmd = _command(tmp_path, "k", "--max-trials", "4")
    project = tmp_path / "k"
    log1 = tmp_path / "first.log"
    with open(log1, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env())
    # Kill once two trials are finished and the third has started (its trial.json says RUNNING).
    deadline = time.monotonic() + TIMEOUT
    while True:
        status = _statuses(project)
        if sorted(status.values()) == ["COMPLETED", "COMPLETED", "RUNNING"]:
            break
        assert proc.poll() is None, log1.read_text()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [tid for tid, s in status.items() if s == "COMPLETED"]
    before = {
        p: (p.stat().st_mtime_ns, p.read_bytes())
        for tid in done
        for p in (project / f"trial_{tid}").iterdir()
    }
    assert before

    second = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=TIMEOUT)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Reloading Tuner" in second.stdout
    # The second run trained the interrupted trial again and the last one -- nothing else.
    trained = re.findall(r"^\s+trial (\d+) of 4: val_accuracy", second.stdout, re.MULTILINE)
    assert trained == ["3", "4"], second.stdout
    for path, (mtime, data) in before.items():
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data, path
    results = json.loads((project / "results.json").read_text())
    assert [t["status"] for t in results["trials"]] == ["COMPLETED"] * 4
    assert len({t["values"]["width"] for t in results["trials"]}) == 4


@pytest.mark.slow
def test_chief_and_two_workers_on_localhost_share_one_search(tmp_path):
    port = str(free_port())
    trials = 6
    logs = {name: tmp_path / f"{name}.log" for name in ("chief", "worker1", "worker2")}
    procs = {}
    cmd = _command(tmp_path, "d", "--max-trials", str(trials), "--port", port)
    with open(logs["chief"], "w") as out:
        procs["chief"] = subprocess.Popen(cmd + ["--chief"], stdout=out, stderr=subprocess.STDOUT, env=_env())
    for name in ("worker1", "worker2"):
        with open(logs[name], "w") as out:
            procs[name] = subprocess.Popen(
                cmd + ["--worker", "--tuner-id", name, "--verbose", "2"],
                stdout=out, stderr=subprocess.STDOUT, env=_env(),
            )
    texts = {name: _finish(proc, logs[name]) for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name}:\n{texts[name]}"
    # Each worker trains one epoch per trial; with --verbose 2 Keras prints one line per epoch.
    epoch_line = re.compile(r"^\d+/\d+ - .* val_accuracy: ", re.MULTILINE)
    per_worker = {name: len(epoch_line.findall(texts[name])) for name in ("worker1", "worker2")}
    assert sum(per_worker.values()) == trials, per_worker
    assert min(per_worker.values()) >= 1, per_worker
    results = json.loads((tmp_path / "d" / "results.json").read_text())
    assert [t["status"] for t in results["trials"]] == ["COMPLETED"] * trials
    assert "best trial" in texts["chief"]
