"""Running the execution path's ORM work from async code, failing closed when the DB is down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection

from vmcp_platform.errors import ServiceUnavailable

T = TypeVar("T")


def _call(fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    # Drop a connection the server closed (restart, idle timeout) before using it, as Django
    # does around each request. Never inside an atomic block: that is a test's transaction (or a
    # caller's) and closing it would break it.
    if not db_connection.in_atomic_block:
        close_old_connections()
    return fn(*args, **kwargs)


async def run_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` in Django's sync thread; a database outage becomes ``ServiceUnavailable``.

    ``thread_sensitive=True``: the work shares the thread (and connection) of the surrounding
    sync code when there is one, e.g. a REST view or a test's transaction.
    """
    try:
        return await sync_to_async(_call, thread_sensitive=True)(fn, args, kwargs)
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailable(
            "The database is unavailable, so the call was refused. Try again shortly.",
            details={"dependency": "database"},
        ) from exc
