"""Distribution strategies for `train`: one device, all local GPUs, many workers (TF_CONFIG), TPUs.

`TrainConfig.strategy` names the strategy; `strategy_for(name)` builds it once per process (a
`MultiWorkerMirroredStrategy` can only be made once, before TensorFlow runs its first op).
Batch size and learning rate across replicas (`TrainConfig.per_replica_batch`, `lr_scaling`):

    global batch = batch_size                 (per_replica_batch=False, the default: the batch is
                                               split evenly over the replicas; same training as on
                                               one device)
    global batch = batch_size * replicas      (per_replica_batch=True: each replica keeps batch_size)
    learning rate = learning_rate * global batch / batch_size   (lr_scaling="linear", Goyal et al.)

Every worker runs the same program. Each builds the same global batches (an epoch is a pure
function of (seed, epoch)) and `tf.distribute` gives each replica its slice of every global batch
(auto-shard policy DATA); gradients are averaged over the global batch, so two workers train what
one worker would. Only the chief (worker 0, or the task of type "chief") writes the run directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from kzoo.utils.errors import UserError

STRATEGIES = (None, "mirrored", "multiworker", "tpu")
LR_SCALINGS = ("none", "linear")
# Set by `kzoo launch` in its workers' environment: the number of workers of the job.
LAUNCHED_WORKERS = "KZOO_LAUNCH_WORKERS"

_built: dict = {}


def check_tf_config(environ=None) -> dict:
    """Parse and check `TF_CONFIG` (multi-worker training); return it as a dict.

    Raises ValueError naming what is wrong: unset, not JSON, no `cluster` of "host:port" lists,
    a `task` whose type is not in the cluster or whose index is out of range.

    Example:
        >>> os.environ["TF_CONFIG"] = json.dumps({
        ...     "cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
        ...     "task": {"type": "worker", "index": 0}})
        >>> check_tf_config()["task"]
        {'type': 'worker', 'index': 0}
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG")
    hint = (
        ' TF_CONFIG must be JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
        '"task": {"type": "worker", "index": 0}}, one per worker; `kzoo launch` sets it for local runs.'
    )
    if not text:
        raise ValueError(
            "strategy='multiworker' needs the TF_CONFIG environment variable; it is unset." + hint
        )
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({err}); received TF_CONFIG={text!r}." + hint
        ) from err
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no `cluster`; received TF_CONFIG={text!r}." + hint)
    for job, addresses in cluster.items():
        if (
            not isinstance(addresses, list)
            or not addresses
            or not all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)
        ):
            raise ValueError(
                f"TF_CONFIG cluster[{job!r}] must be a list of 'host:port' strings; "
                f"received {addresses!r}." + hint
            )
    if "worker" not in cluster and "chief" not in cluster:
        raise ValueError(
            f"TF_CONFIG's cluster has no 'worker' or 'chief' job; received {text!r}." + hint
        )
    task = tf_config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(
            f"TF_CONFIG `task` must name a job of the cluster ({', '.join(cluster)}); "
            f"received task={task!r}." + hint
        )
    index = task.get("index")
    if (
        isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(cluster[task["type"]])
    ):
        raise ValueError(
            f"TF_CONFIG task index must be an integer in [0, {len(cluster[task['type']])}); "
            f"received index={index!r}." + hint
        )
    return tf_config


def strategy_for(name: str | None):
    """The `tf.distribute.Strategy` called `name` (see `STRATEGIES`), built once per process.

    Args:
        name: None (one device: TensorFlow's default strategy), "mirrored" (all local GPUs, else
            the CPU), "multiworker" (`MultiWorkerMirroredStrategy` from TF_CONFIG) or "tpu"
            (`TPUStrategy`; the TPU is found by `TPUClusterResolver`, e.g. from TPU_NAME).

    Raises:
        ValueError: an unknown name, a bad TF_CONFIG, no TPU, or "multiworker" asked for after
            TensorFlow already ran an op in this process.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        valid = ", ".join(repr(s) for s in STRATEGIES)
        raise ValueError(f"`strategy` must be one of {valid}; received strategy={name!r}.")
    if name is None:
        return tf.distribute.get_strategy()
    if name in _built:
        return _built[name]
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multiworker":
        check_tf_config()
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:
            raise ValueError(
                "strategy='multiworker' must be set up before TensorFlow runs any op in this "
                "process: call kzoo.training.distribute.strategy_for('multiworker') at the start "
                f"of the program ({err})."
            ) from err
    else:
        strategy = _tpu_strategy(tf)
    _built[name] = strategy
    return strategy


def _tpu_strategy(tf):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise ValueError(
            f"strategy='tpu' found no TPU ({err}). Run on a Cloud TPU VM or set TPU_NAME to the "
            "TPU's name or grpc:// address."
        ) from err
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy) -> bool:
    """Whether this process writes the run directory (always true without multi-worker training)."""
    return bool(strategy.extended.should_checkpoint)


def worker_name(strategy) -> str:
    """`"worker-1"` and the like for a multi-worker task, `"local"` otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return "local"
    return f"{resolver.task_type}-{resolver.task_id}"


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` is a MultiWorkerMirroredStrategy over more than one task."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    tasks = strategy.cluster_resolver.cluster_spec().as_dict().values()
    return sum(len(t) if isinstance(t, (list, dict)) else 1 for t in tasks) > 1


def gather_from_workers(strategy, values: list[int]) -> list[list[int]]:
    """`values` of every worker, in task order (just `[values]` without multi-worker training).

    A collective operation: every worker must call it at the same point.
    """
    import tensorflow as tf

    if not is_multi_worker(strategy):
        return [list(values)]
    local = len(strategy.extended.worker_devices)
    mine = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([values], tf.int64)
    )
    every = strategy.gather(mine, axis=0).numpy().tolist()
    return every[::local]  # one row per replica; a worker's replicas are consecutive


def shard_by_data(dataset):
    """Tell tf.distribute to give each worker its slice of every batch (the pipeline reads no files).

    The default policy (AUTO) tries file sharding first and warns before falling back to this.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@contextlib.contextmanager
def keras_multiworker_fixes(strategy):
    """Keras 3's trainer fixed for `MultiWorkerMirroredStrategy` within the block
    (`kzoo.keras_private.multiworker_fit_fixes`); any other strategy runs Keras unchanged."""
    if not is_multi_worker(strategy):
        yield
        return
    from kzoo.keras_private import multiworker_fit_fixes

    with multiworker_fit_fixes():
        yield


def worker_scratch_dir(config, strategy) -> Path:
    """A non-chief worker's scratch directory, named by run and worker and emptied first, so a
    worker restarted after `kill -9` clears what its killed predecessor left."""
    key = hashlib.sha256(f"{Path(config.run_dir).resolve()}|{config.fingerprint()}".encode())
    path = private_temp_root() / f"{worker_name(strategy)}-{key.hexdigest()[:16]}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def private_temp_root() -> Path:
    """`$TMPDIR/kzoo-<uid>`, this user's alone (0700, not a link): the worker folders in it have
    predictable names, which in the shared temporary folder another user could claim first."""
    root = Path(tempfile.gettempdir()) / f"kzoo-{os.getuid()}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(root)
    except OSError as err:
        raise UserError(f"cannot make the worker's scratch folder {str(root)!r}: {err}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise UserError(
            f"{str(root)!r} is not a private folder of this user (a link, another owner, or "
            "readable by others); remove it, or set TMPDIR to a folder of your own, and rerun"
        )
    return root
