"""Retention: delete what a tenant no longer keeps, in bounded batches.

Each batch is one ``DELETE … WHERE id IN (SELECT id … LIMIT n FOR UPDATE SKIP LOCKED)`` in its
own transaction: no long locks, progress survives an interruption, running it again is a no-op,
and two purges running at once take different rows instead of waiting for (or failing on) each
other's. The purge is cleanup only: expiry is enforced whenever a token, link or state is read.

MCP session records are not purged here: they live in Redis with a TTL and expire by themselves.
"""

# The SQL below is assembled only from quoted model table names and constant clauses; every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from configs.models import SessionToken
from tenants.models import Tenant
from vault.models import ConnectLink, OAuthState, Secret
from vmcp_platform.observability import metrics

from .models import AuditEvent

logger = logging.getLogger(__name__)

# Expired session tokens are kept a day, so "why was I refused?" can still be answered.
SESSION_TOKEN_GRACE = timedelta(days=1)
DEFAULT_BATCH_SIZE = 5000

KINDS = (
    "audit_events",
    "session_tokens",
    "oauth_states",
    "oauth_state_secrets",
    "connect_links",
)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _tables() -> dict[str, str]:
    return {
        "event": _q(AuditEvent._meta.db_table),
        "token": _q(SessionToken._meta.db_table),
        "link": _q(ConnectLink._meta.db_table),
        "state": _q(OAuthState._meta.db_table),
        "secret": _q(Secret._meta.db_table),
    }


def _conditions(*, tenant: Tenant, now: datetime) -> dict[str, tuple[str, list[object]]]:
    """What is expired, per kind, as a WHERE clause over the kind's own table."""
    t = _tables()
    retention_cutoff = now - timedelta(days=tenant.audit_retention_days)
    return {
        "audit_events": ("occurred_at < %s", [retention_cutoff]),
        "session_tokens": ("expires_at < %s", [now - SESSION_TOKEN_GRACE]),
        "oauth_states": ("used_at IS NOT NULL OR expires_at < %s", [now]),
        # PKCE verifiers whose state is gone (deleted with it, or left behind by a crash).
        "oauth_state_secrets": (
            f"owner_type = %s AND NOT EXISTS (SELECT 1 FROM {t['state']} st "
            f"WHERE st.id = {t['secret']}.owner_id)",
            [Secret.OwnerType.OAUTH_STATE.value],
        ),
        "connect_links": ("used_at IS NOT NULL OR expires_at < %s", [now]),
    }


_TABLE_OF = {
    "audit_events": "event",
    "session_tokens": "token",
    "oauth_states": "state",
    "oauth_state_secrets": "secret",
    "connect_links": "link",
}


def _batch_sql(kind: str, where: str) -> str:
    t = _tables()
    table = t[_TABLE_OF[kind]]
    batch = f"SELECT id FROM {table} WHERE {where} LIMIT %s FOR UPDATE SKIP LOCKED"
    if kind == "oauth_states":
        # A state's PKCE verifier goes in the same transaction as the state.
        return (
            f"WITH gone AS (DELETE FROM {table} WHERE id IN ({batch}) RETURNING id), "
            f"secrets AS (DELETE FROM {t['secret']} s USING gone "
            f"WHERE s.owner_type = %s AND s.owner_id = gone.id RETURNING s.id) "
            f"SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM secrets)"
        )
    if kind == "connect_links":
        # The FK from OAuthState is SET_NULL in Django only; in SQL, detach states first.
        return (
            f"WITH batch AS ({batch}), "
            f"detached AS (UPDATE {t['state']} SET link_id = NULL "
            f"WHERE link_id IN (SELECT id FROM batch) RETURNING 1), "
            f"gone AS (DELETE FROM {table} WHERE id IN (SELECT id FROM batch) RETURNING 1) "
            f"SELECT (SELECT count(*) FROM gone), 0"
        )
    return (
        f"WITH gone AS (DELETE FROM {table} WHERE id IN ({batch}) RETURNING 1) "
        f"SELECT (SELECT count(*) FROM gone), 0"
    )


def _delete_in_batches(
    kind: str, where: str, params: list[object], batch_size: int
) -> tuple[int, int]:
    sql = _batch_sql(kind, where)
    extra_params: list[object] = (
        [Secret.OwnerType.OAUTH_STATE.value] if kind == "oauth_states" else []
    )
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
    counts = dict.fromkeys(KINDS, 0)
    with tenant_context(tenant):
        conditions = _conditions(tenant=tenant, now=now)
        if dry_run:
            return _count(conditions, counts, tenant=tenant)
        for kind in KINDS:
            where, params = conditions[kind]
            deleted, cascaded = _delete_in_batches(kind, where, params, batch_size)
            counts[kind] += deleted
            if kind == "oauth_states":
                counts["oauth_state_secrets"] += cascaded
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
    conditions: dict[str, tuple[str, list[object]]], counts: dict[str, int], *, tenant: Tenant
) -> dict[str, int]:
    t = _tables()
    with connection.cursor() as cursor:
        for kind in KINDS:
            where, params = conditions[kind]
            cursor.execute(f"SELECT count(*) FROM {t[_TABLE_OF[kind]]} WHERE {where}", params)
            counts[kind] = cursor.fetchone()[0]
        # Verifiers of the states that would go, on top of already orphaned ones.
        state_where, state_params = conditions["oauth_states"]
        cursor.execute(
            f"SELECT count(*) FROM {t['secret']} WHERE owner_type = %s AND owner_id IN "
            f"(SELECT id FROM {t['state']} WHERE {state_where})",
            [Secret.OwnerType.OAUTH_STATE.value, *state_params],
        )
        counts["oauth_state_secrets"] += cursor.fetchone()[0]
    logger.info(
        "purge (dry run): tenant %s (schema %s) would lose %d rows: %s",
        tenant.slug,
        tenant.schema_name,
        sum(counts.values()),
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return counts
