"""Counters inside a gateway web process: SQL statements and thread hops, counted, not estimated.

Installed by the bench's launcher (``servers.web(..., probe=PATH)`` starts the process as
``python -c "from bench.harness import probe; probe.install(PATH); <run daphne>"``), never by the
app: the application's code is unchanged and pays nothing when the bench does not ask. Counted
in the process, from the moment it starts:

- ``sql``: statements psycopg sends to PostgreSQL (``_execute_send`` of the server- and the
  client-binding cursors, and ``_send_query_prepared``: every ``execute``, each parameter set
  of an ``executemany``, every ``COPY`` and server-side cursor, sync or async, ORM or raw). That
  includes Django's connection health checks (``SELECT 1``) and django-tenants'
  ``SET search_path``. A string holding several statements sent at once (simple query protocol)
  counts as one.
- ``sql_tx``: the statements psycopg sends itself for transaction control (``BEGIN``,
  ``COMMIT``, ``ROLLBACK``, savepoints: ``BaseConnection._exec_command``).
- ``hops_shared``: ``asgiref`` ``SyncToAsync`` calls with ``thread_sensitive=True``, i.e. onto the
  one thread that Django/Channels run sync ORM work on (``sync_to_async``,
  ``database_sync_to_async``, ``gateway.execution.db.run_db`` are all this).
- ``hops_other``: ``SyncToAsync`` calls with ``thread_sensitive=False`` (a thread pool).
- ``executor``: every ``asyncio`` ``loop.run_in_executor`` (the hops above, plus any direct use).

``SIGUSR1`` makes the process write ``{"pid", "counts"}`` to PATH (atomically, by rename); the
bench reads it before and after a phase and divides the difference by the calls it made. The
cost when installed is one lock and an integer add per counted event (well under 1 µs; about
20 events per call today, so ≈ 1% of the 2 ms per-call target).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import threading
from typing import Any

COUNTS: dict[str, int] = {
    "sql": 0,
    "sql_tx": 0,
    "hops_shared": 0,
    "hops_other": 0,
    "executor": 0,
}
_lock = threading.Lock()


def _bump(key: str) -> None:
    with _lock:
        COUNTS[key] += 1


def _counting(key: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _bump(key)
        return fn(*args, **kwargs)

    return wrapper


def install(path: str) -> None:
    import asyncio

    import psycopg._connection_base as connection_base
    import psycopg._cursor_base as cursor_base
    import psycopg.client_cursor as client_cursor
    from asgiref.sync import SyncToAsync

    # Every class that defines its own way of sending a statement (none calls another's): the
    # server-binding cursors (BaseCursor) and the client-binding ones Django uses by default.
    for cls in (cursor_base.BaseCursor, client_cursor.ClientCursorMixin):
        for name in ("_execute_send", "_send_query_prepared"):
            if name in vars(cls):
                setattr(cls, name, _counting("sql", vars(cls)[name]))
    base_connection = connection_base.BaseConnection
    base_connection._exec_command = _counting("sql_tx", base_connection._exec_command)

    original_call = SyncToAsync.__call__

    @functools.wraps(original_call)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        _bump("hops_shared" if self._thread_sensitive else "hops_other")
        return await original_call(self, *args, **kwargs)

    SyncToAsync.__call__ = call  # type: ignore[method-assign]
    loop_class = asyncio.BaseEventLoop
    loop_class.run_in_executor = _counting("executor", loop_class.run_in_executor)  # type: ignore[method-assign]

    def dump(signum: int, frame: Any) -> None:
        with _lock:
            snapshot = dict(COUNTS)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as handle:
            json.dump({"pid": os.getpid(), "counts": snapshot}, handle)
        os.replace(tmp, path)

    signal.signal(signal.SIGUSR1, dump)


def read(pid: int, path: str, timeout: float = 10.0) -> dict[str, int]:
    """Ask process ``pid`` for its counters (from the bench's side)."""
    import time

    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as handle:
                data = json.load(handle)
            if data.get("pid") == pid:
                return data["counts"]
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"process {pid} did not write its counters to {path}")
