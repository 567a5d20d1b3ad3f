"""Seeds side by side: worker processes give the numbers one process gives, and Ctrl-C ends them all."""

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from kzoo.lab import whitening
from kzoo.lab._seeds import check_workers, run_over_seeds, usable_cores
from tests.helpers import answer_ctrl_c

ROOT = Path(__file__).resolve().parents[2]


def test_default_is_one_process_per_core_and_at_most_one_per_seed():
    assert check_workers(None, whitening, 5) == min(usable_cores(), 5)
    assert check_workers(None, whitening, 1) == 1
    assert check_workers(4, whitening, 3) == 3
    fake = types.SimpleNamespace(LESSON="fake")  # cannot be imported again in another process
    assert check_workers(None, fake, 3) == 1


@pytest.mark.parametrize("workers", [0, -1, True, 1.5, "2"])
def test_bad_workers_are_refused_before_anything_runs(tmp_path, workers):
    with pytest.raises(ValueError, match="workers"):
        run_over_seeds(whitening, tmp_path, seeds=[0, 1], smoke=True, workers=workers)
    assert not list(tmp_path.iterdir())


def test_the_lab_scripts_refuse_a_bad_workers_value_in_one_line():
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / "lab" / "10_maxout.py"),
                           "--workers", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--workers" in done.stderr and "'0'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_two_worker_processes_give_the_numbers_of_one_process(tmp_path):
    apart = run_over_seeds(whitening, tmp_path / "two", seeds=[0, 1], smoke=True, workers=2)
    alone = run_over_seeds(whitening, tmp_path / "one", seeds=[0, 1], smoke=True, workers=1)
    assert [r["headline"] for r in apart["per_seed"]] == [r["headline"] for r in alone["per_seed"]]
    assert [r["seed"] for r in apart["per_seed"]] == [0, 1]
    for seed in (0, 1):
        assert (tmp_path / "two" / "seeds" / "whitening" / f"seed{seed}" / "whitening.json").is_file()


CRASHY = """
import os

LESSON, CLAIM, PAPER, SEEDS = "crashy", "Nothing.", "None", (0, 1)


def run(out_dir, *, seed=0, smoke=False):
    if seed == 1:
        os._exit(9)  # a worker that dies, as one killed for memory would
    return {"claim_holds": True, "conclusion": "ok", "figure": ""}


def headline(result):
    return {}
"""


@pytest.mark.slow
def test_a_worker_that_dies_ends_the_run_with_an_error_instead_of_a_wait(tmp_path, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    (tmp_path / "crashy_lesson.py").write_text(CRASHY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import crashy_lesson

    start = time.monotonic()
    with pytest.raises(BrokenProcessPool):
        run_over_seeds(crashy_lesson, tmp_path / "out", workers=2)
    assert time.monotonic() - start < 120
    assert not (tmp_path / "out" / "crashy.json").exists()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads child processes from /proc")
def test_ctrl_c_ends_the_script_and_its_worker_processes_in_one_line(tmp_path):
    script = ROOT / "recipes" / "lab" / "06_highway.py"
    proc = subprocess.Popen([sys.executable, str(script), "--out", str(tmp_path), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=answer_ctrl_c)
    deadline = time.monotonic() + 120
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:  # both workers started
        time.sleep(0.5)
    workers = _children(proc.pid)
    assert len(workers) >= 2, workers
    time.sleep(1)  # the workers are still importing TensorFlow: they must not answer it themselves
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("lab highway")]
    assert lines == ["lab highway: interrupted"], err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    time.sleep(1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and "Z" not in (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1][:3]]
    assert not (tmp_path / "highway.json").exists()  # no aggregate from an interrupted run
