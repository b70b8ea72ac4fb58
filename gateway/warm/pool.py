"""One ``psycopg_pool.AsyncConnectionPool`` per event loop, built from Django's DATABASES.

Statements that use it are schema-qualified (``psycopg.sql.Identifier``), never ``SET
search_path``: a pooled connection carries no tenant state between requests. There is no
per-checkout health check: a connection that fails is discarded by the pool, a read is retried
once on a fresh one, and a second failure becomes ``ServiceUnavailable``: no database, no call.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from django.conf import settings
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from vmcp_platform.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 10
CHECKOUT_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 3

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnectionPool] = (
    weakref.WeakKeyDictionary()
)


def conninfo() -> str:
    db = settings.DATABASES["default"]
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    return make_conninfo(
        dbname=db.get("NAME") or "",
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=str(db["PORT"]) if db.get("PORT") else None,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name="vmcp-warm",
        **{k: v for k, v in options.items() if k in {"sslmode", "sslrootcert", "sslcert"}},
    )


async def _pool() -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = AsyncConnectionPool(
            conninfo(),
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            timeout=CHECKOUT_TIMEOUT_SECONDS,
            kwargs={"autocommit": True, "prepare_threshold": 0},
            open=False,
        )
        _pools[loop] = pool
        await pool.open(wait=False)
    return pool


def unavailable(exc: BaseException | None = None) -> ServiceUnavailable:
    if exc is not None:
        logger.warning("database unavailable on the warm path: %s", type(exc).__name__)
    return ServiceUnavailable(
        "The database is unavailable, so the call was refused. Try again shortly.",
        details={"dependency": "database"},
    )


@asynccontextmanager
async def connection() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pooled connection (autocommit); database errors become ``ServiceUnavailable``.

    ``psycopg.errors.UndefinedTable`` passes through: the caller's cached schema name may be
    stale (a tenant re-created) and it retries once after refreshing it.
    """
    pool = await _pool()
    try:
        async with pool.connection() as conn:
            yield conn
    except psycopg.errors.UndefinedTable:
        raise
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout, OSError) as exc:
        raise unavailable(exc) from exc
    except psycopg.DatabaseError as exc:
        raise unavailable(exc) from exc


async def _fetch(query: Any, params: Any, *, many: bool) -> Any:
    # Reads are retried once on a fresh connection: a pooled connection that the server closed
    # (a restart, an idle timeout) fails its next statement, and the pool has no per-checkout
    # check to catch it earlier. A second failure is an outage: refused.
    for attempt in (1, 2):
        try:
            async with connection() as conn:
                cursor = await conn.execute(query, params)
                return await (cursor.fetchall() if many else cursor.fetchone())
        except ServiceUnavailable as exc:
            cause = exc.__cause__
            broken = isinstance(cause, psycopg.OperationalError) and not isinstance(
                cause,
                PoolTimeout,  # no connection to be had: an outage, not a stale one
            )
            if attempt == 2 or not broken:
                raise
    raise AssertionError("unreachable")


async def fetch_one(query: Any, params: Sequence[Any] | dict[str, Any]) -> tuple[Any, ...] | None:
    return await _fetch(query, params, many=False)


async def fetch_all(query: Any, params: Sequence[Any] | dict[str, Any]) -> list[tuple[Any, ...]]:
    return await _fetch(query, params, many=True)


async def close_all() -> None:
    """Close this loop's pool (tests, shutdown)."""
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
