"""Retention: delete what a tenant no longer keeps, in bounded batches.

Each batch is one ``DELETE … WHERE id IN (SELECT id … LIMIT n FOR UPDATE SKIP LOCKED)`` in its
own transaction: no long locks, progress survives an interruption, running it again is a no-op,
and two purges running at once take different rows instead of waiting for (or failing on) each
other's. The purge is cleanup only: expiry is enforced whenever a token, link or state is read.

audit owns the machinery and its own kind (audit events); every other app registers the kinds
of its own tables from its ``AppConfig.ready()`` (``configs/purge.py``, ``vault/purge.py``), so
audit never imports the models of the apps above it.

MCP session records are not purged here: they live in Redis with a TTL and expire by themselves.
"""

# The SQL below is assembled only from quoted model table names and constant clauses; every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from tenants.models import Tenant
from vmcp_platform.observability import metrics

from .models import AuditEvent

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000

# (WHERE clause over the kind's own table, its parameters)
Where = tuple[str, list[object]]


@dataclass(frozen=True)
class PurgeKind:
    """One kind of expired row: how to find it, and how to delete it in batches.

    ``table`` is the unquoted table name. ``batch_sql``, when set, replaces the plain delete of
    one batch: given the quoted table and the batch's ``SELECT id … LIMIT %s FOR UPDATE SKIP
    LOCKED``, it returns a statement selecting (rows deleted, rows cascaded) and the parameters
    that follow the batch size; the cascaded rows are counted under ``cascades_into``.
    ``count_cascade``, given the kind's WHERE clause, returns the query counting what that
    cascade would delete, for a dry run.
    """

    name: str
    order: int  # where its count goes in the result and the log line
    table: str
    where: Callable[..., Where]  # where(tenant=, now=)
    batch_sql: Callable[[str, str], tuple[str, list[object]]] | None = None
    cascades_into: str | None = None
    count_cascade: Callable[[str, list[object]], Where] | None = None


_KINDS: dict[str, PurgeKind] = {}


def purge_kind_register(kind: PurgeKind) -> None:
    """Add a kind (idempotent: ``ready()`` may run more than once in tests)."""
    _KINDS[kind.name] = kind


def purge_kinds() -> list[PurgeKind]:
    return sorted(_KINDS.values(), key=lambda kind: kind.order)


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _audit_events_where(*, tenant: Tenant, now: datetime) -> Where:
    return "occurred_at < %s", [now - timedelta(days=tenant.audit_retention_days)]


purge_kind_register(
    PurgeKind(
        name="audit_events",
        order=10,
        table=AuditEvent._meta.db_table,
        where=_audit_events_where,
    )
)


def _plain_batch(table: str, batch: str) -> tuple[str, list[object]]:
    return (
        f"WITH gone AS (DELETE FROM {table} WHERE id IN ({batch}) RETURNING 1) "
        f"SELECT (SELECT count(*) FROM gone), 0"
    ), []


def _delete_in_batches(
    kind: PurgeKind, where: str, params: list[object], batch_size: int
) -> tuple[int, int]:
    table = quote(kind.table)
    batch = f"SELECT id FROM {table} WHERE {where} LIMIT %s FOR UPDATE SKIP LOCKED"
    sql, extra_params = (kind.batch_sql or _plain_batch)(table, batch)
    deleted = cascaded = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [*params, batch_size, *extra_params])
            batch_deleted, batch_cascaded = cursor.fetchone()
        deleted += batch_deleted
        cascaded += batch_cascaded
        # Fewer than a full batch: done, or the rest is locked by a concurrent purge that
        # will delete it.
        if batch_deleted < batch_size:
            return deleted, cascaded


def purge_expired(
    *,
    tenant: Tenant,
    now: datetime | None = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, int]:
    """Delete the tenant's expired rows; returns how many of each kind went (or would go)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    kinds = purge_kinds()
    counts = dict.fromkeys((kind.name for kind in kinds), 0)
    with tenant_context(tenant):
        conditions = {kind.name: kind.where(tenant=tenant, now=now) for kind in kinds}
        if dry_run:
            return _count(kinds, conditions, counts, tenant=tenant)
        for kind in kinds:
            where, params = conditions[kind.name]
            deleted, cascaded = _delete_in_batches(kind, where, params, batch_size)
            counts[kind.name] += deleted
            if kind.cascades_into:
                counts[kind.cascades_into] += cascaded
    metrics.count_audit_purged(counts)
    logger.info(
        "purge: tenant %s (schema %s) lost %d rows: %s",
        tenant.slug,
        tenant.schema_name,
        sum(counts.values()),
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return counts


def _count(
    kinds: list[PurgeKind],
    conditions: dict[str, Where],
    counts: dict[str, int],
    *,
    tenant: Tenant,
) -> dict[str, int]:
    with connection.cursor() as cursor:
        for kind in kinds:
            where, params = conditions[kind.name]
            cursor.execute(f"SELECT count(*) FROM {quote(kind.table)} WHERE {where}", params)
            counts[kind.name] = cursor.fetchone()[0]
        # What the cascades would take, on top of rows already expired in their own right.
        for kind in kinds:
            if kind.count_cascade is not None and kind.cascades_into:
                sql, params = kind.count_cascade(*conditions[kind.name])
                cursor.execute(sql, params)
                counts[kind.cascades_into] += cursor.fetchone()[0]
    logger.info(
        "purge (dry run): tenant %s (schema %s) would lose %d rows: %s",
        tenant.slug,
        tenant.schema_name,
        sum(counts.values()),
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return counts
