"""Distributed training: strategy settings, chief-only writes, `kzoo launch`, two workers on 127.0.0.1.

The multi-worker tests start real worker processes (MultiWorkerMirroredStrategy over gRPC on
127.0.0.1) through the launcher, with bounded timeouts.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from kzoo.training import TrainConfig, rundir, train
from kzoo.training.distribute import check_tf_config
from kzoo.training.engine import _plan
from kzoo.training.launch import launch, tf_config
from kzoo.utils.settings import declared

TWO_WORKERS = {
    "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
    "task": {"type": "worker", "index": 0},
}
# 1293 digits training examples: 20 full batches of 64 per epoch, no partial last batch (a partial
# batch is split over the replicas and each averages its own share: not the one-device step).
# float32: the comparisons with one-device training are tight; bfloat16 ("auto" on CPUs that have
# it) rounds each replica's half-batch gradient differently from the full batch's.
SMALL = dict(
    mixed_precision="float32",
    model="plain_mlp",
    model_kwargs={"depth": 2, "width": 32, "dropout": 0.0},
    dataset="digits",
    batch_size=64,
    max_steps_per_epoch=20,
    optimizer="momentum",
    learning_rate=0.05,
    tensorboard=False,
)


def _config(tmp_path, **overrides):
    base = dict(model="plain_mlp", dataset="digits", run_dir=str(tmp_path / "run"), verbose=0)
    return TrainConfig(**{**base, **overrides})


@pytest.mark.parametrize(
    "overrides, tf_config_text, message",
    [
        ({"strategy": "gpu"}, None, r"strategy must be one of mirrored, multiworker, tpu; received strategy='gpu'"),
        ({"strategy": "multiworker"}, None, "needs the TF_CONFIG environment variable"),
        ({"strategy": "multiworker"}, "{cluster: 1}", "TF_CONFIG is not valid JSON"),
        ({"strategy": "multiworker"}, json.dumps({"task": {"type": "worker"}}), "no `cluster`"),
        (
            {"strategy": "multiworker"},
            json.dumps(
                {"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}
            ),
            "'host:port'",
        ),
        (
            {"strategy": "multiworker"},
            json.dumps({**TWO_WORKERS, "task": {"type": "worker", "index": 2}}),
            r"index must be an integer in \[0, 2\); received index=2",
        ),
        (
            {"strategy": "multiworker"},
            json.dumps({**TWO_WORKERS, "task": {"type": "ps", "index": 0}}),
            "must name a job of the cluster",
        ),
        ({"lr_scaling": "sqrt"}, None, "lr_scaling must be one of none, linear; received lr_scaling='sqrt'"),
        ({"lr_scaling": "linear"}, None, "unless per_replica_batch is set; received lr_scaling='linear'"),
        ({"per_replica_batch": "yes"}, None, "per_replica_batch"),
        ({"strategy": "mirrored", "diagnostics": True}, None, "diagnostics"),
    ],
)
def test_bad_distribution_settings_fail_before_anything_is_written(
    tmp_path, monkeypatch, overrides, tf_config_text, message
):
    if tf_config_text is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config_text)
    with pytest.raises(ValueError, match=message):
        train(_config(tmp_path, **overrides))
    assert not (tmp_path / "run").exists()


def test_workers_started_by_kzoo_launch_must_train_together(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_LAUNCH_WORKERS", "2")
    with pytest.raises(ValueError, match="started 2 workers of one job.*Pass strategy multiworker"):
        train(_config(tmp_path, strategy="mirrored"))
    assert not (tmp_path / "run").exists()


def test_a_valid_tf_config_passes():
    config = {**TWO_WORKERS, "task": {"type": "worker", "index": 1}}
    assert check_tf_config({"TF_CONFIG": json.dumps(config)}) == config


def test_tpu_strategy_without_a_tpu_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="strategy='tpu' found no TPU"):
        train(_config(tmp_path, strategy="tpu"))
    assert not (tmp_path / "run").exists()


def test_kzoo_train_reports_strategy_errors(tmp_path, capsys):
    from kzoo.cli import main

    run = tmp_path / "cli"
    argv = ["train", "--model", "plain_mlp", "--dataset", "digits", "--run-dir", str(run)]
    assert main([*argv, "--strategy", "tpu"]) == 2
    assert "strategy='tpu' found no TPU" in capsys.readouterr().err
    assert main([*argv, "--lr-scaling", "linear"]) == 2
    assert "unless --per-replica-batch is set; received 'linear'" in capsys.readouterr().err
    assert not run.exists()


def test_global_batch_and_learning_rate_scaling(tmp_path):
    assert _plan(_config(tmp_path, batch_size=64), 4) == (4, 64, 1.0)
    per_replica = _config(tmp_path, batch_size=64, per_replica_batch=True)
    assert _plan(per_replica, 4) == (4, 256, 1.0)
    linear = _config(tmp_path, batch_size=64, per_replica_batch=True, lr_scaling="linear")
    assert _plan(linear, 4) == (4, 256, 4.0)
    with pytest.raises(ValueError, match=r"split evenly over the 3 replicas.*batch_size=64"):
        _plan(_config(tmp_path, batch_size=64), 3)


def test_runs_made_before_the_strategy_settings_keep_their_fingerprint(tmp_path):
    config = _config(tmp_path, epochs=3)
    # Settings declared fingerprint="if_set" were added after the first runs (the strategy ones
    # among them): config.json had none of them.
    added_later = {d.name for d in declared(type(config)) if d.spec.fingerprint == "if_set"}
    assert {"per_replica_batch", "lr_scaling"} <= added_later
    old = {k: v for k, v in config.to_dict().items() if k not in added_later | {"strategy"}}
    # config.json as the engine wrote it before these fields existed (same hashing).
    unhashed = ("run_dir", "overwrite", "verbose", "data_dir", "manual_dir", "strategy")
    kept = {k: v for k, v in old.items() if k not in unhashed}
    old_fingerprint = hashlib.sha256(
        json.dumps(kept, sort_keys=True, default=repr).encode()
    ).hexdigest()
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.CONFIG).write_text(json.dumps({"fingerprint": old_fingerprint, "config": old}))
    assert config.fingerprint() == old_fingerprint
    assert rundir.check_run_dir(config) == "resume"
    # The strategy does not change what is trained; a per-replica batch does.
    assert _config(tmp_path, epochs=3, strategy="mirrored").fingerprint() == old_fingerprint
    with pytest.raises(ValueError, match="per_replica_batch: False -> True"):
        rundir.check_run_dir(_config(tmp_path, epochs=3, per_replica_batch=True))


def test_a_per_replica_batch_run_resumes_only_with_its_replica_count(tmp_path):
    config = _config(tmp_path, per_replica_batch=True)
    rundir.prepare_run_dir(config, "new", replicas=2)
    with pytest.raises(ValueError, match=r"started with 2 replica\(s\).*global batch 256"):
        rundir.check_run_dir(config, replicas=1)
    assert rundir.check_run_dir(config, replicas=2) == "resume"


def test_mirrored_strategy_trains_what_one_device_trains(tmp_path):
    one = train(TrainConfig(**SMALL, run_dir=str(tmp_path / "one"), epochs=2, verbose=0))
    mirrored = train(
        TrainConfig(
            **SMALL, run_dir=str(tmp_path / "mirrored"), epochs=2, verbose=0, strategy="mirrored"
        )
    )
    assert mirrored.metrics["replicas"] == 1 and mirrored.metrics["strategy"] == "mirrored"
    for a, b in zip(one.model.get_weights(), mirrored.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert mirrored.metrics["test_accuracy"] == pytest.approx(
        one.metrics["test_accuracy"], abs=1e-6
    )


# --- the launcher, with plain Python workers (no TensorFlow: fast) ---------------------------


def test_tf_config_names_every_worker_and_this_task():
    addresses = ["127.0.0.1:5000", "127.0.0.1:5001", "127.0.0.1:5002"]
    config = json.loads(tf_config(2, addresses))
    assert config == {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": 2}}
    assert check_tf_config({"TF_CONFIG": tf_config(2, addresses)}) == config


class _Lines:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.extend(text.splitlines())

    def flush(self):
        pass


def test_launch_gives_each_worker_its_tf_config_and_prefixes_its_output():
    out = _Lines()
    code = "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task']['index'], 'of', len(json.loads(os.environ['TF_CONFIG'])['cluster']['worker']))"
    assert launch([sys.executable, "-c", code], 3, out=out) == 0
    assert {line for line in out.lines if line.startswith("[worker")} == {
        "[worker 0] 0 of 3",
        "[worker 1] 1 of 3",
        "[worker 2] 2 of 3",
    }
    addresses = next(line for line in out.lines if "attempt 1" in line)
    assert addresses.count("127.0.0.1:") == 3


def test_launch_stops_the_group_when_a_worker_fails_and_returns_its_code():
    out = _Lines()
    code = (
        "import json, os, sys, time\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        "sys.exit(3) if index == 1 else time.sleep(120)\n"
    )
    start = time.monotonic()
    assert launch([sys.executable, "-c", code], 2, out=out, grace_seconds=5) == 3
    assert time.monotonic() - start < 60  # worker 0 was stopped, not waited for
    assert any("worker 1 failed with exit code 3" in line for line in out.lines)


def test_launch_restarts_the_group_up_to_max_restarts(tmp_path):
    marker = tmp_path / "failed-once"
    code = (
        "import json, os, pathlib, sys\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
        "if index == 0 and not marker.exists():\n"
        "    marker.touch(); sys.exit(5)\n"
    )
    out = _Lines()
    assert launch([sys.executable, "-c", code], 2, max_restarts=1, out=out) == 0
    assert sum("attempt" in line for line in out.lines) == 2
    marker.unlink()
    assert launch([sys.executable, "-c", code], 2, max_restarts=0, out=_Lines()) == 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(command=[], workers=2), "command"),
        (dict(command=["x.py"], workers=0), "workers"),
        (dict(command=["x.py"], workers=2, port=65535), "port"),
        (dict(command=["x.py"], workers=2, max_restarts=-1), "max_restarts"),
    ],
)
def test_launch_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        launch(**kwargs)


def test_kzoo_launch_command_line(capsys):
    from kzoo.cli import main

    assert main(["launch", "--workers", "0", "--", sys.executable, "-c", "pass"]) == 2
    assert "workers" in capsys.readouterr().err
    assert main(["launch", "--workers", "2", "--", sys.executable, "-c", "pass"]) == 0


# --- two real workers ---------------------------------------------------------------------

_WORKER = """
import json, os, sys
import numpy as np
from kzoo.training import TrainConfig, train
config = TrainConfig(**json.loads(sys.argv[1]))
result = train(config)
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
np.savez(os.path.join(sys.argv[2], f"weights-{index}.npz"), *result.model.get_weights())
with open(os.path.join(sys.argv[2], f"metrics-{index}.json"), "w") as f:
    json.dump(result.metrics, f)
"""


def _launch(args, timeout=600, on_line=None):
    """Run `kzoo launch` in a subprocess; return (exit code, output lines)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kzoo.cli", "launch", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []

    def read():
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if on_line is not None:
                on_line(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        reader.join(timeout=10)
    return code, lines


def _largest_gap(weights, others) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(weights, others, strict=True))


def _worker_dirs():
    return set((Path(tempfile.gettempdir()) / f"kzoo-{os.getuid()}").glob("worker-*"))


@pytest.mark.slow
def test_two_workers_end_with_identical_weights_matching_one_worker(tmp_path):
    run = tmp_path / "two"
    config = dict(SMALL, run_dir=str(run), epochs=3, verbose=0, strategy="multiworker")
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    before = _worker_dirs()
    code, lines = _launch(["--workers", "2", "--", str(script), json.dumps(config), str(tmp_path)])
    assert code == 0, "\n".join(lines[-40:])
    w0, w1 = (np.load(tmp_path / f"weights-{i}.npz") for i in (0, 1))
    for key in w0:
        np.testing.assert_array_equal(w0[key], w1[key])  # the replicas are in sync

    one = train(TrainConfig(**{**config, "strategy": None, "run_dir": str(tmp_path / "one")}))
    # Same global batches and the gradient of their mean: equal up to float summation order.
    gap = _largest_gap(one.model.get_weights(), [w0[key] for key in w0])
    print(f"largest weight difference, two workers vs one: {gap:.2e}")
    assert gap <= 2e-5
    m0 = json.loads((tmp_path / "metrics-0.json").read_text())
    m1 = json.loads((tmp_path / "metrics-1.json").read_text())
    assert m0.pop("train_seconds") > 0 and m1.pop("train_seconds") > 0  # each worker's own clock
    assert m0 == m1 and m0["replicas"] == 2 and m0["global_batch_size"] == 64
    assert m0["test_loss"] == pytest.approx(one.metrics["test_loss"], abs=1e-4)
    assert m0["test_accuracy"] == pytest.approx(one.metrics["test_accuracy"], abs=1e-6)

    # Only the chief wrote the run directory; the other worker's temporary files are gone.
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test_accuracy"] == m0["test_accuracy"]
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2, 3]
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    for a, key in zip(model.get_weights(), w0, strict=True):
        np.testing.assert_array_equal(a, w0[key])
    assert _worker_dirs() <= before


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_restarted_and_the_job_completes(tmp_path):
    epochs = 6
    run = tmp_path / "killed"
    train_args = ["--model", "plain_mlp", "--dataset", "digits", "--epochs", str(epochs)]
    train_args += ["--batch-size", "64", "--max-steps-per-epoch", "20", "--lr", "0.05"]
    train_args += ["--schedule", "constant", "--no-tensorboard", "--verbose", "2"]
    train_args += ["--mixed-precision", "float32"]
    train_args += ["--strategy", "multiworker", "--run-dir", str(run)]
    metadata = run / "checkpoint" / "training_metadata.json"
    pids, killed = {}, []

    def on_line(line):
        if line.startswith("[launch] worker ") and ": pid " in line:
            index, pid = line.split("[launch] worker ")[1].split(": pid ")
            pids[int(index)] = int(pid)

    def kill_worker_1_after_epoch_2():
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            if metadata.exists() and json.loads(metadata.read_text())["epoch"] >= 2 and 1 in pids:
                os.kill(pids[1], signal.SIGKILL)
                killed.append(json.loads(metadata.read_text())["epoch"])
                return
            time.sleep(0.05)

    before = _worker_dirs()
    killer = threading.Thread(target=kill_worker_1_after_epoch_2, daemon=True)
    killer.start()
    code, lines = _launch(
        ["--workers", "2", "--max-restarts", "1", "--", "kzoo", "train", *train_args],
        on_line=on_line,
    )
    killer.join(timeout=10)
    assert code == 0, "\n".join(lines[-40:])
    assert killed and killed[0] < epochs, "worker 1 was not killed mid-run"
    assert any("worker 1 failed with signal SIGKILL" in line for line in lines)
    assert sum("attempt" in line for line in lines) == 2
    assert any(f"Resuming {run} after epoch" in line for line in lines)
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == epochs and metrics["replicas"] == 2
    assert _worker_dirs() <= before  # the killed worker's scratch was cleared by its successor

    # Nothing lost: the result is what one uninterrupted worker trains with the same settings, up
    # to float summation order (a lost or repeated epoch moves the weights far more: see `short`).
    settings = dict(
        model="plain_mlp", dataset="digits", batch_size=64, max_steps_per_epoch=20,
        learning_rate=0.05, optimizer="momentum", schedule="constant", tensorboard=False, verbose=0,
        mixed_precision="float32",
    )  # fmt: skip
    one = train(TrainConfig(**settings, run_dir=str(tmp_path / "one"), epochs=epochs))
    short = train(TrainConfig(**settings, run_dir=str(tmp_path / "short"), epochs=epochs - 1))
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    gap = _largest_gap(one.model.get_weights(), model.get_weights())
    epoch_off = _largest_gap(one.model.get_weights(), short.model.get_weights())
    print(f"largest weight difference vs one worker: {gap:.2e}; one epoch fewer: {epoch_off:.2e}")
    assert gap <= 2e-4 < epoch_off / 10
    for a, b in zip(one.history, history, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-4)
    assert metrics["test_accuracy"] == pytest.approx(one.metrics["test_accuracy"], abs=1e-6)


_WORKER_OWN_DIR = """
import json, os, sys
from kzoo.training import TrainConfig, train
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
train(TrainConfig(**{**json.loads(sys.argv[1]), "run_dir": sys.argv[2 + index]}))
"""


@pytest.mark.slow
def test_workers_that_see_different_run_directories_refuse_to_train(tmp_path):
    # As if the run directory were on each host's local disk: the chief's holds a finished run.
    settings = dict(SMALL, epochs=1, max_steps_per_epoch=2, verbose=0)
    train(TrainConfig(**settings, run_dir=str(tmp_path / "chief")))
    script = tmp_path / "worker.py"
    script.write_text(_WORKER_OWN_DIR)
    config = json.dumps({**settings, "run_dir": "unused", "strategy": "multiworker"})
    code, lines = _launch(
        ["--workers", "2", "--", str(script), config, str(tmp_path / "chief"), str(tmp_path / "w1")]
    )
    assert code != 0
    refusals = [line for line in lines if "The workers see different run directories" in line]
    assert len(refusals) == 2 and "worker 0: finished; worker 1: 0 epochs done" in refusals[0]
    assert "file system they share" in refusals[0]


def _tiny_model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # optimiser step 2, momentum set
    return model


def test_another_worker_saves_to_its_own_directory_and_restores_the_chiefs(tmp_path):
    from kzoo.training.callbacks import AtomicBackupAndRestore

    shared, own = tmp_path / "run" / "checkpoint", tmp_path / "worker-1" / "checkpoint"
    chief = _tiny_model(0)
    saver = AtomicBackupAndRestore(shared)
    saver.set_model(chief)
    saver.on_epoch_end(0)
    worker = _tiny_model(1)
    other = AtomicBackupAndRestore(shared, write_dir=own)
    other.set_model(worker)
    other.on_epoch_end(0)  # the other worker's save goes to its own directory only
    assert json.loads((own / "training_metadata.json").read_text())["epoch"] == 1
    assert sorted(p.name for p in shared.iterdir()) == [
        "latest.weights.h5",
        "training_metadata.json",
    ]

    # A kill between the chief's next weights and metadata: weights a step ahead of the metadata.
    metadata = json.loads((shared / "training_metadata.json").read_text())
    shutil.copy(shared / "latest.weights.h5", shared / "latest.weights.h5.bkp")
    chief.optimizer.iterations.assign(metadata["iterations"] + 1)
    chief.save_weights(str(shared / "latest.weights.h5"))  # the previous weights stay in .bkp
    before = {p.name: p.read_bytes() for p in shared.iterdir()}
    restored = _tiny_model(2)
    reader = AtomicBackupAndRestore(shared, write_dir=own)
    reader.set_model(restored)
    reader.on_train_begin()
    assert int(restored.optimizer.iterations.numpy()) == metadata["iterations"]
    for a, b in zip(restored.get_weights(), chief.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert {p.name: p.read_bytes() for p in shared.iterdir()} == before  # the chief's, untouched


def test_worker_scratch_lives_in_a_folder_of_this_user_alone(tmp_path, monkeypatch):
    from kzoo.training.distribute import private_temp_root
    from kzoo.utils.errors import UserError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = private_temp_root()
    assert root == tmp_path / f"kzoo-{os.getuid()}" and (root.stat().st_mode & 0o777) == 0o700
    root.chmod(0o755)  # readable by others: refused, not used
    with pytest.raises(UserError, match="not a private folder of this user"):
        private_temp_root()
    root.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    root.symlink_to(tmp_path / "elsewhere")  # a link another user could have planted
    with pytest.raises(UserError, match="not a private folder of this user"):
        private_temp_root()
