"""Start benchmark workers (`worker_process.py`) and talk to them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("worker_process.py")


class WorkerError(RuntimeError):
    """A worker failed a request; the message holds its traceback."""


class Worker:
    """One worker process of `kind` ("kzoo", "keras" or "torch"); its stderr goes to `log_path`
    (and so does anything the libraries print: the protocol owns the real stdout)."""

    def __init__(self, kind: str, log_path: Path, extra_env: dict | None = None):
        self.kind = kind
        env = {**os.environ, **(extra_env or {})}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # The worker runs as a script: it finds kzoo the way this process did.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._process = subprocess.Popen(
            [sys.executable, str(WORKER), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )

    def call(self, op: str, **kwargs):
        self._process.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise WorkerError(
                f"the {self.kind} worker exited (status {self._process.wait()}) during {op!r}; "
                f"see {self._log.name}"
            )
        reply = json.loads(line)
        if not reply["ok"]:
            raise WorkerError(f"the {self.kind} worker failed {op!r}:\n{reply['error']}")
        return reply["result"]

    def close(self) -> None:
        try:
            if self._process.poll() is None:
                self.call("close")
                self._process.wait(timeout=60)
        except (WorkerError, OSError, subprocess.TimeoutExpired, ValueError):
            self._process.kill()
            self._process.wait()
        finally:
            self._log.close()
