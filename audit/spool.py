"""The durable fallback for audit rows the database refused: a Redis list, drained into the table.

A tool call's row is written after the call (latency and outcome are known only then). If that
insert fails — the database went away in between, or refused the row — the row goes here, and
``spool_drain`` (the ``audit.tasks.drain_spool`` beat task every few seconds, or
``manage.py audit_drain_spool``) inserts it later. The insert is idempotent, keyed by
``(event_type, extra.execution_id)``, so a row drained twice (a crash between insert and pop)
is stored once. If Redis cannot take the row either, it is logged at ERROR (redacted): the
last trace left.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db import DatabaseError, DataError, InterfaceError, transaction
from django_tenants.utils import schema_context

from vmcp_platform.logging import redact

from .models import AuditEvent
from .services import audit_record

logger = logging.getLogger(__name__)

SPOOL_KEY = "vmcp:audit:spool"
SOCKET_TIMEOUT_SECONDS = 2.0
DRAIN_BATCH = 200
DEFAULT_MAX_SPOOLED_ROWS = 100_000


def _encode(schema_name: str, fields: dict[str, Any], occurred_at: datetime) -> str:
    record = {**fields, "occurred_at": occurred_at.isoformat()}
    for key in ("session_token_id", "config_id"):
        if record.get(key) is not None:
            record[key] = str(record[key])
    return json.dumps({"schema": schema_name, "fields": record}, default=str)


def _log_lost(payload: str) -> None:
    # Neither the database nor Redis took the row: the log is the last place it can go.
    logger.error("audit row could not be stored or spooled: %s", redact(payload))


async def spool_push(*, schema_name: str, fields: dict[str, Any], occurred_at: datetime) -> bool:
    """Queue one ``audit_record(**fields)`` for ``schema_name``; False (logged) if Redis is down."""
    payload = _encode(schema_name, fields, occurred_at)
    client = aioredis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
    )
    try:
        # Bounded: the spool covers a database outage, it must not let one caller fill Redis
        # (which every tenant needs) with rows. Past the bound the row goes to the log instead.
        if await client.llen(SPOOL_KEY) >= max_spooled_rows():
            _log_lost(payload)
            return False
        await client.rpush(SPOOL_KEY, payload)
    except (redis.RedisError, OSError):
        _log_lost(payload)
        return False
    finally:
        await client.aclose()
    logger.warning("audit row spooled to Redis (the database refused it)")
    return True


def max_spooled_rows() -> int:
    return int(getattr(settings, "VMCP_AUDIT_SPOOL_MAX_ROWS", DEFAULT_MAX_SPOOLED_ROWS))


def _insert(record: dict[str, Any]) -> None:
    try:
        with transaction.atomic():  # a savepoint, so the fallback works inside a transaction
            _insert_once(record)
    except DataError:
        # The row's content itself is refused (not the database being away): store the call
        # without its extra details rather than retrying it forever or losing the call.
        logger.error("audit spool: a row's details were refused; storing the row without them")
        fields = dict(record["fields"])
        extra = fields.get("extra") or {}
        kept = {"execution_id": extra.get("execution_id"), "unstorable_details": True}
        _insert_once({**record, "fields": {**fields, "extra": kept}})


def _insert_once(record: dict[str, Any]) -> None:
    fields = dict(record["fields"])
    fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
    execution_id = (fields.get("extra") or {}).get("execution_id")
    with schema_context(record["schema"]):
        if (
            execution_id
            and AuditEvent.objects.filter(
                event_type=fields["event_type"], extra__execution_id=execution_id
            ).exists()
        ):
            return
        audit_record(**fields)


def spool_drain(*, limit: int = 10_000) -> int:
    """Insert spooled rows (oldest first) until the spool is empty or ``limit``; returns how many.

    A row the database still refuses goes back to the end of the spool and the drain stops, to
    be retried on the next run.
    """
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
    )
    drained = 0
    try:
        while drained < limit:
            batch = client.lpop(SPOOL_KEY, min(DRAIN_BATCH, limit - drained)) or []
            if not batch:
                break
            for index, payload in enumerate(batch):
                try:
                    _insert(json.loads(payload))
                except (DatabaseError, InterfaceError):
                    logger.warning("audit spool: the database still refuses a row; retry later")
                    client.rpush(SPOOL_KEY, *batch[index:])
                    return drained
                except (ValueError, KeyError, TypeError):
                    _log_lost(payload.decode(errors="replace"))  # unreadable: never retried
                    continue
                drained += 1
    finally:
        client.close()
    return drained
