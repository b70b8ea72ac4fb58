"""Audit rows of warm calls by group commit: committed before the call's result is returned.

Each call hands its row to this process's writer and awaits the commit of the batch it joined.
The writer takes everything queued, inserts it in one transaction (one multi-row INSERT per
tenant schema, schema-qualified) together with the pending ``last_used_at`` touches, then
resolves every waiter; rows queued meanwhile form the next batch. So at c=1 a row costs one
INSERT and no waiting, and under load one commit serves many calls.

Durability contract: a call whose result was returned has its row committed (a web process
killed with ``kill -9`` loses only calls that had not answered yet). If the batch fails, each
of its rows is retried through the ORM (``audit_record``, the REST path's writer); a row that
still cannot be written makes the waiter raise ``ServiceUnavailable``, which the caller treats
exactly like the ORM path (a refusal becomes a 503; an executed call is logged loudly).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import defaultdict
from typing import Any

from django.conf import settings
from django_tenants.utils import schema_context
from psycopg import sql
from psycopg.types.json import Jsonb

from audit.models import AuditEvent
from configs.models import SessionToken
from configs.services.tokens import LAST_USED_RESOLUTION
from gateway.execution.db import run_db
from vmcp_platform.errors import ServiceUnavailable
from vmcp_platform.observability import metrics

from . import pool

logger = logging.getLogger(__name__)

COLUMNS = (
    "occurred_at",
    "event_type",
    "outcome",
    "actor",
    "identifier",
    "error_code",
    "session_token_id",
    "config_id",
    "connection_name",
    "account_id",
    "tool_name",
    "latency_ms",
    "request_id",
    "agent_run_id",
    "extra",
)
MAX_BATCH_ROWS = 500


class GroupWriter:
    def __init__(self) -> None:
        self._rows: list[tuple[str, dict[str, Any], asyncio.Future[None]]] = []
        self._touches: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def write(self, schema: str, row: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._rows.append((schema, row, future))
        self._kick()
        # shield: a cancelled caller (client gone) must not cancel the batch others wait on.
        await asyncio.shield(future)
        metrics.count_audit_written(row["event_type"])  # committed (the ORM path counts too)

    def touch(self, schema: str, token_id: str) -> None:
        """``last_used_at = now()`` for this token with the next batch (not awaited)."""
        self._touches.add((schema, token_id))
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._rows or self._touches:
            batch, self._rows = self._rows[:MAX_BATCH_ROWS], self._rows[MAX_BATCH_ROWS:]
            touches, self._touches = self._touches, set()
            try:
                await _insert(batch, touches)
            except Exception as exc:
                logger.warning(
                    "batched audit insert failed (%s); rows go one by one via the ORM",
                    type(exc).__name__,
                )
                await _fallback(batch)
                continue
            for _schema, _row, future in batch:
                if not future.done():
                    future.set_result(None)


async def _insert(
    batch: list[tuple[str, dict[str, Any], asyncio.Future[None]]], touches: set[tuple[str, str]]
) -> None:
    by_schema: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for schema, row, _future in batch:
        by_schema[schema].append(row)
    touched: dict[str, list[str]] = defaultdict(list)
    for schema, token_id in touches:
        touched[schema].append(token_id)
    statements: list[tuple[sql.Composable, list[Any]]] = []
    for schema, rows in by_schema.items():
        params: list[Any] = []
        for row in rows:
            params += [Jsonb(row[c]) if c == "extra" else row[c] for c in COLUMNS]
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)))
            for _ in rows
        )
        statements.append(
            (
                sql.SQL("INSERT INTO {s}.{t} ({cols}) VALUES {values}").format(
                    s=sql.Identifier(schema),
                    t=sql.Identifier(AuditEvent._meta.db_table),
                    cols=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
                    values=values,
                ),
                params,
            )
        )
    for schema, ids in touched.items():
        statements.append(
            (
                sql.SQL(
                    "UPDATE {s}.{t} SET last_used_at = now() WHERE id = ANY(%s::uuid[])"
                    " AND (last_used_at IS NULL OR last_used_at < now() - %s)"
                ).format(s=sql.Identifier(schema), t=sql.Identifier(SessionToken._meta.db_table)),
                [ids, LAST_USED_RESOLUTION],
            )
        )
    async with pool.connection() as conn:
        if len(statements) == 1:
            # One statement is atomic on its own (autocommit): no BEGIN/COMMIT round trips.
            await conn.execute(*statements[0])
            return
        async with conn.transaction():
            for statement in statements:
                await conn.execute(*statement)


def _orm_write(schema: str, row: dict[str, Any]) -> None:
    with schema_context(schema):
        AuditEvent.objects.create(**row)


async def _fallback(batch: list[tuple[str, dict[str, Any], asyncio.Future[None]]]) -> None:
    for schema, row, future in batch:
        try:
            await run_db(_orm_write, schema, row)
        except Exception as exc:
            if not future.done():
                future.set_exception(
                    exc
                    if isinstance(exc, ServiceUnavailable)
                    else ServiceUnavailable("The audit trail could not be written.")
                )
            continue
        if not future.done():
            future.set_result(None)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupWriter] = (
    weakref.WeakKeyDictionary()
)


def writer() -> GroupWriter:
    loop = asyncio.get_running_loop()
    current = _writers.get(loop)
    if current is None:
        current = _writers[loop] = GroupWriter()
    return current


def enabled() -> bool:
    return bool(getattr(settings, "VMCP_MCP_WARM_PATH", False))
