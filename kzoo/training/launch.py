"""`kzoo launch --workers N -- <command>`: N local workers of one multi-worker training job.

Each worker is the same command with its own `TF_CONFIG` (a cluster of N "127.0.0.1:port"
workers, task index 0..N-1; worker 0 is the chief); pass `--strategy multiworker` to the recipe
(a kzoo training run with another strategy refuses to start under the launcher). Output lines are prefixed with the worker's index. When a worker dies, the others are stopped
(synchronous training cannot go on without it) and, up to `--max-restarts` times, the whole group
is started again: the run resumes from the chief's last checkpoint. The exit code is 0 when every
worker succeeded, else the failing worker's code (128 + signal for a signal).

The workers' gRPC ports accept connections from anyone who can reach them and are not encrypted:
they bind 127.0.0.1 unless --host says otherwise; only use another address on a network you trust.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from kzoo.training.distribute import LAUNCHED_WORKERS
from kzoo.utils.errors import UserError
from kzoo.utils.settings import REQUIRED, Settings, add_arguments, given, setting

DEFAULT_HOST = "127.0.0.1"


def tf_config(index: int, addresses: list[str]) -> str:
    """The TF_CONFIG of worker `index` in a cluster of workers at `addresses` ("host:port")."""
    if not isinstance(index, int) or not 0 <= index < len(addresses):
        raise ValueError(f"`index` must be in [0, {len(addresses)}); received index={index!r}.")
    return json.dumps(
        {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}
    )


def free_ports(count: int, host: str = DEFAULT_HOST) -> list[int]:
    """`count` distinct TCP ports free on `host` right now (the OS picks them)."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def worker_command(command: list[str]) -> list[str]:
    """Run a `.py` script and `kzoo ...` with this Python; anything else as given."""
    if command[0].endswith(".py"):
        return [sys.executable, *command]
    if command[0] == "kzoo":
        return [sys.executable, "-m", "kzoo.cli", *command[1:]]
    return list(command)


def launch(
    command: list[str],
    workers: int,
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    max_restarts: int = 0,
    grace_seconds: float = 10.0,
    out=None,
) -> int:
    """Run `command` as `workers` local workers of one job; restart the group if one dies.

    Args:
        command: the program and its arguments (a recipe script, `kzoo train ...`, ...).
        workers: number of worker processes (>= 1).
        host: the address the workers bind and reach each other on.
        port: first port (workers use port .. port + workers - 1); None picks free ports.
        max_restarts: how many times a failed group is started again.
        grace_seconds: how long stopped workers get after SIGTERM before SIGKILL.
        out: where the prefixed output goes (default sys.stdout).

    Returns:
        0 when every worker exited with 0, else the exit code of the first worker that failed.

    Example:
        >>> launch(["recipes/quickstart.py", "--smoke", "--no-search", "--strategy", "multiworker"], 2)
    """
    LaunchConfig(workers, host, port, max_restarts, grace_seconds).validate(command)
    out = out or sys.stdout
    lock = threading.Lock()

    def say(text):
        with lock:
            out.write(text + "\n")
            out.flush()

    attempt = 0
    while True:
        ports = list(range(port, port + workers)) if port else free_ports(workers, host)
        addresses = [f"{host}:{p}" for p in ports]
        say(f"[launch] attempt {attempt + 1}: {workers} workers at {', '.join(addresses)}")
        code = _run_group(worker_command(command), addresses, grace_seconds, say)
        if code == 0:
            say("[launch] all workers finished")
            return 0
        if attempt >= max_restarts:
            say(f"[launch] giving up (exit code {code})")
            return code
        attempt += 1
        say(
            f"[launch] restarting the group ({attempt} of {max_restarts}); the run resumes from its checkpoint"
        )


def _run_group(argv, addresses, grace_seconds, say) -> int:
    processes, readers = [], []
    for index in range(len(addresses)):
        env = {
            **os.environ,
            "TF_CONFIG": tf_config(index, addresses),
            LAUNCHED_WORKERS: str(len(addresses)),
        }
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # a worker and its children are stopped together
        )
        say(f"[launch] worker {index}: pid {process.pid}")
        reader = threading.Thread(
            target=_stream, args=(process, f"[worker {index}] ", say), daemon=True
        )
        reader.start()
        processes.append(process)
        readers.append(reader)
    failed = None
    try:
        while failed is None and any(p.poll() is None for p in processes):
            for index, process in enumerate(processes):
                code = process.poll()
                if code not in (None, 0):
                    failed = (index, code)
                    break
            time.sleep(0.1)
        if failed is None:
            failed = next(
                ((i, p.returncode) for i, p in enumerate(processes) if p.returncode), None
            )
    finally:
        if failed is not None or any(p.poll() is None for p in processes):
            _stop(processes, grace_seconds)
        for reader in readers:
            reader.join(timeout=5)
    if failed is None:
        return 0
    index, code = failed
    say(f"[launch] worker {index} failed with {_describe(code)}; stopping the others")
    return 128 - code if code < 0 else code


def _stream(process, prefix, say) -> None:
    for line in process.stdout:
        say(prefix + line.rstrip("\n"))


def _stop(processes, grace_seconds) -> None:
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process, sig) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


@dataclass
class LaunchConfig(Settings):
    """How `kzoo launch` starts the workers of one job (see `launch`)."""

    workers: int = setting(REQUIRED, "number of worker processes", group="distribution", low=1,
                           metavar="N")
    host: str = setting(DEFAULT_HOST, "address the workers bind and reach each other on",
                        group="distribution", metavar="ADDRESS")
    port: int | None = setting(None, "first port (default: free ports)", group="distribution",
                               low=1, high=65535, metavar="PORT")
    max_restarts: int = setting(0, "restarts of the group after a failure", group="distribution",
                                low=0, metavar="N")
    grace_seconds: float = setting(10.0, "seconds stopped workers get before SIGKILL",
                                   group="distribution", low=0.0, flag=None)

    def validate(self, command) -> LaunchConfig:
        if not command:
            raise UserError("no command: give the recipe and its arguments after `--`")
        self.validate_fields()
        if not self.host:
            raise self.error("{host} must be an address such as 127.0.0.1", "host")
        if self.port is not None and self.port > 65536 - self.workers:
            raise self.error(
                f"{{port}} must be at most {65536 - self.workers} ({self.workers} workers use "
                f"port .. port + {self.workers - 1})", "port",
            )
        return self


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the `launch` subcommand to the `kzoo` command's subparsers."""
    parser = sub.add_parser(
        "launch",
        help="run a recipe as N local workers of one multi-worker job (TF_CONFIG each)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser, LaunchConfig)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- <recipe and its args>")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    # SIGTERM unwinds like Ctrl-C, so the workers (in their own sessions) are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    values = given(args, LaunchConfig)
    if "workers" not in values:
        raise UserError("--workers required (the number of worker processes)")
    config = LaunchConfig(**values).validate(command)
    return launch(command, config.workers, host=config.host, port=config.port,
                  max_restarts=config.max_restarts)
