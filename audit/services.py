"""Writing the audit trail. Every state change records its event here, in the same transaction."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context
from redis.exceptions import RedisError

from vmcp_platform import authfail
from vmcp_platform.logging import redact
from vmcp_platform.observability import metrics

from .models import AuditEvent, Outcome

_SENSITIVE_KEY_PARTS = (
    "secret",
    "token",
    "password",
    "authorization",
    "credential",
    "api_key",
    "apikey",
    "cookie",
    "code_verifier",
    "private",
)
# Keys naming a thing rather than holding it ("api_key_id", "session_token_id", "secret_name").
_REFERENCE_KEY_SUFFIXES = ("_id", "_ids", "_name", "_type", "_at", "_count")


def _is_sensitive_key(key: str) -> bool:
    lowered = key.lower()
    if lowered.endswith(_REFERENCE_KEY_SUFFIXES):
        return False
    return any(part in lowered for part in _SENSITIVE_KEY_PARTS)


def sanitize(value: Any, *, depth: int = 0) -> Any:
    """Drop values under sensitive-looking keys and redact token-shaped strings, recursively.

    At most ``MAX_KEYS`` keys per object and 100 items per list: with strings capped too, a
    stored value stays small whatever the caller sent (see also ``MAX_EXTRA_BYTES``).
    """
    if depth > 6:
        return "[TRUNCATED]"
    if isinstance(value, dict):
        return {
            str(k): "[REDACTED]" if _is_sensitive_key(str(k)) else sanitize(v, depth=depth + 1)
            for k, v in list(value.items())[:MAX_KEYS]
        }
    if isinstance(value, list | tuple):
        return [sanitize(v, depth=depth + 1) for v in value[:100]]
    if isinstance(value, str):
        return redact(value[:2000])
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/Infinity: PostgreSQL's jsonb refuses them
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value)[:2000])


MAX_KEYS = 100
# A row's extra (stored tool arguments included) is at most this big serialised; past it, only
# the keys that identify the call survive, with "truncated": true.
MAX_EXTRA_BYTES = 16 * 1024
_KEPT_WHEN_TRUNCATED = ("execution_id", "exposed_name", "provider_status", "reason")


def _bounded(extra: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(extra, default=str)) <= MAX_EXTRA_BYTES:
        return extra
    kept = {k: extra[k] for k in _KEPT_WHEN_TRUNCATED if k in extra}
    return {**kept, "truncated": True}


def _redact_actor(actor: str) -> str:
    """Redact the free part of an actor, never its kind: ``apikey:<id>:<name>`` would otherwise
    read as an ``apikey: <secret>`` pair and lose the key's name, which is what people look for."""
    kind, sep, rest = actor.partition(":")
    return f"{kind}{sep}{redact(rest)}" if sep else redact(actor)


def audit_record(
    *,
    event_type: str,
    outcome: str = Outcome.OK,
    actor: str = "",
    identifier: str = "",
    error_code: str = "",
    session_token_id: uuid.UUID | str | None = None,
    config_id: uuid.UUID | str | None = None,
    connection_name: str = "",
    account_id: int | None = None,
    tool_name: str = "",
    latency_ms: int | None = None,
    request_id: str = "",
    agent_run_id: str = "",
    extra: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Record one event in the current tenant's schema (call inside the change's transaction).

    ``occurred_at`` defaults to now; a row replayed from the spool (``audit.spool``) keeps the
    time of the call it records.
    """
    metrics.count_audit_written(event_type)
    return AuditEvent.objects.create(
        **audit_row(
            event_type=event_type,
            outcome=outcome,
            actor=actor,
            identifier=identifier,
            error_code=error_code,
            session_token_id=session_token_id,
            config_id=config_id,
            connection_name=connection_name,
            account_id=account_id,
            tool_name=tool_name,
            latency_ms=latency_ms,
            request_id=request_id,
            agent_run_id=agent_run_id,
            extra=extra,
            occurred_at=occurred_at,
        )
    )


def audit_row(
    *,
    event_type: str,
    outcome: str = Outcome.OK,
    actor: str = "",
    identifier: str = "",
    error_code: str = "",
    session_token_id: uuid.UUID | str | None = None,
    config_id: uuid.UUID | str | None = None,
    connection_name: str = "",
    account_id: int | None = None,
    tool_name: str = "",
    latency_ms: int | None = None,
    request_id: str = "",
    agent_run_id: str = "",
    extra: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """The column values of one audit row, redacted and truncated (what ``audit_record`` writes;
    the gateway's batched writer inserts the same values without the ORM)."""
    return {
        "occurred_at": occurred_at or timezone.now(),
        "event_type": event_type,
        "outcome": outcome,
        "actor": _redact_actor(actor)[:255],
        "identifier": identifier[:255],
        "error_code": error_code[:64],
        "session_token_id": session_token_id,
        "config_id": config_id,
        "connection_name": connection_name[:100],
        "account_id": account_id,
        "tool_name": tool_name[:128],
        "latency_ms": latency_ms,
        "request_id": request_id[:64],
        "agent_run_id": redact(agent_run_id)[:128],
        "extra": _bounded(sanitize(extra or {})),
    }


def audit_record_for_tenant(*, tenant: Any, **fields: Any) -> AuditEvent:
    """``audit_record`` from public-schema code (API keys, members) into the tenant's schema."""
    with schema_context(tenant.schema_name):
        return audit_record(**fields)


def audit_auth_failure(
    *,
    tenant: Any,
    surface: str,
    source: str,
    reason: str,
    config_id: uuid.UUID | str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Count one failed bearer authentication, audited in aggregate in the tenant's schema.

    One ``auth.failed`` row per (surface, source, reason) and window: the window's first failure
    writes it with ``extra.count = 1``, later ones fold their count (and ``last_at``) into it, so
    a flood costs a bounded number of writes (the source is refused after
    ``VMCP_AUTH_FAILURES_PER_WINDOW`` failures anyway, without a row). Without Redis every
    failure is its own row: recorded, just not aggregated.
    """
    metrics.count_auth_failure(surface, reason)
    source_failures = authfail.failure_count(surface, source)
    throttled = source_failures is not None and source_failures >= authfail.limit()
    base = f"vmcp:authfail:audit:{surface}:{tenant.schema_name}:{source}:{reason}"
    count = authfail.window_count(base + ":n")
    row_id: int | None = None
    if count is not None and count > 1:
        try:
            raw = authfail.sync_client().get(base + ":row")
            row_id = int(raw) if raw else None
        except (RedisError, ValueError):
            row_id = None
        if row_id is None:
            # The window's first failure is still writing its row: it will be folded into next.
            return
    with schema_context(tenant.schema_name), transaction.atomic():
        if row_id is not None and _fold(row_id, count or 1, throttled):
            return
        event = audit_record(
            event_type="auth.failed",
            outcome=Outcome.DENIED,
            actor="anonymous",
            error_code=reason,
            config_id=config_id,
            extra={
                **(extra or {}),
                "reason": reason,
                "surface": surface,
                "source": source,
                "count": count or 1,
                "window_seconds": authfail.window_seconds(),
                **({"throttled": True} if throttled else {}),
            },
        )
    if count is not None:
        try:
            authfail.sync_client().set(base + ":row", event.pk, ex=authfail.window_seconds())
        except RedisError:
            pass  # the next failure writes a row of its own


def _fold(row_id: int, count: int, throttled: bool) -> bool:
    event = AuditEvent.objects.select_for_update().filter(pk=row_id).first()
    if event is None:
        return False  # purged or rolled back: start a new row
    extra = dict(event.extra or {})
    extra["count"] = max(int(extra.get("count") or 1), count)
    extra["last_at"] = timezone.now().isoformat()
    if throttled:
        extra["throttled"] = True
    event.extra = extra
    event.save(update_fields=["extra"])
    return True
