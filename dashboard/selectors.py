"""Reads behind the dashboard's overview and audit pages (current tenant schema).

The dashboard owns no data; these only count and filter rows other apps wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from audit.models import AuditEvent, EventType, Outcome

# A "call" on the overview is anything an agent asked a tool to do, allowed or not.
CALL_EVENTS = (EventType.TOOL_CALLED, EventType.TOOL_DENIED)


@dataclass(frozen=True)
class DayCalls:
    day: date
    counts: dict[str, int]  # outcome → calls
    total: int
    # Percent of the busiest day's height, per outcome, for the bar chart.
    heights: dict[str, float] = field(default_factory=dict)


def calls_per_day(*, days: int = 30, now: datetime | None = None) -> list[DayCalls]:
    """Tool calls per UTC day for the last ``days`` days (oldest first), split by outcome."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    rows = (
        AuditEvent.objects.filter(
            event_type__in=CALL_EVENTS,
            occurred_at__gte=datetime.combine(first, time.min, tzinfo=UTC),
        )
        .annotate(day=TruncDate("occurred_at", tzinfo=UTC))
        .values("day", "outcome")
        .annotate(n=Count("id"))
    )
    by_day: dict[date, dict[str, int]] = {}
    for row in rows:
        by_day.setdefault(row["day"], {})[row["outcome"]] = row["n"]
    peak = max((sum(c.values()) for c in by_day.values()), default=0) or 1
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        counts = {o: by_day.get(day, {}).get(o, 0) for o in Outcome.values}
        heights = {o: round(100 * n / peak, 2) for o, n in counts.items()}
        out.append(DayCalls(day=day, counts=counts, total=sum(counts.values()), heights=heights))
    return out


def top_values(*, column: str, days: int = 30, limit: int = 5) -> list[dict[str, Any]]:
    """The most frequent tools or identifiers among recent calls, with their error counts."""
    since = timezone.now() - timedelta(days=days)
    return list(
        AuditEvent.objects.filter(event_type__in=CALL_EVENTS, occurred_at__gte=since)
        .exclude(**{column: ""})
        .values(column)
        .annotate(calls=Count("id"), failures=Count("id", filter=~Q(outcome=Outcome.OK)))
        .order_by("-calls", column)[:limit]
    )


def recent_errors(*, limit: int = 8) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.exclude(outcome=Outcome.OK).order_by("-occurred_at", "-id")[:limit]


def overview_counts() -> dict[str, int]:
    """What the tenant has configured, at a glance."""
    from configs.models import Connection, McpConfig, SessionToken
    from vault.models import ConnectedAccount

    now = timezone.now()
    return {
        "connections": Connection.objects.count(),
        "servers": McpConfig.objects.count(),
        "active_accounts": ConnectedAccount.objects.filter(
            status=ConnectedAccount.Status.ACTIVE
        ).count(),
        "active_tokens": SessionToken.objects.filter(
            revoked_at__isnull=True, expires_at__gt=now
        ).count(),
    }
