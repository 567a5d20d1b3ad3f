"""Distributed search: keras-tuner's chief/worker mode.

One chief process holds the oracle and serves it over gRPC; any number of worker processes ask it for
trials, train them and report back. keras-tuner reads three environment variables:
`KERASTUNER_TUNER_ID` ("chief" for the chief, a unique id per worker), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` (where the chief listens / the workers connect).

The oracle service is unauthenticated and unencrypted (a plain gRPC port): anyone who can reach it can
read the search and submit results. `role_environment` binds to 127.0.0.1 unless told otherwise; only
bind another address on a network you trust.
"""

from __future__ import annotations

import contextlib
import os
import socket

from kzoo.utils.checks import check_int

ROLES = ("chief", "worker")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def is_distributed() -> bool:
    return "KERASTUNER_ORACLE_IP" in os.environ


def is_chief() -> bool:
    return is_distributed() and "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


def is_worker() -> bool:
    return is_distributed() and not is_chief()


def environment(role: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, tuner_id=None) -> dict:
    """The environment variables keras-tuner reads for `role` ("chief" or "worker").

    Args:
        role: "chief" serves the oracle; "worker" runs trials.
        host: the address the chief binds and the workers connect to (default 127.0.0.1).
        port: the chief's port.
        tuner_id: a worker's unique id (default `worker<pid>`); ignored for the chief.
    """
    if role not in ROLES:
        raise ValueError(f"`role` must be one of {ROLES}; received role={role!r}.")
    if not isinstance(host, str) or not host:
        raise ValueError(f"`host` must be an address such as '127.0.0.1'; received host={host!r}.")
    check_int("port", port, 1, 65535)
    if role == "chief":
        tuner_id = "chief"
    else:
        tuner_id = tuner_id or f"worker{os.getpid()}"
        if not isinstance(tuner_id, str) or "chief" in tuner_id:
            raise ValueError(
                f"A worker's `tuner_id` must be a string without 'chief'; received tuner_id={tuner_id!r}."
            )
    return {
        "KERASTUNER_TUNER_ID": tuner_id,
        "KERASTUNER_ORACLE_IP": host,
        "KERASTUNER_ORACLE_PORT": str(port),
    }


@contextlib.contextmanager
def role_environment(role: str | None, **kwargs):
    """Set keras-tuner's chief/worker variables for the duration of the block (None: no change).

    Example:
        >>> with role_environment("worker", port=8000):
        ...     tuner.search(...)
    """
    if role is None:
        yield
        return
    env = environment(role, **kwargs)
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (for tests and local runs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
