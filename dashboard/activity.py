"""What an admin wants at a glance, for a period: calls, error rate, denials, latency split into
vmcp's own time and the provider's, and the tool-definition tokens scoping saved on the real
``tools/list`` traffic. For the whole tenant (the overview) or one virtual server (its activity
page). Reads only audit rows other apps wrote (current tenant schema).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncDate, TruncHour
from django.utils import timezone

from audit.models import AuditEvent, EventType, Outcome
from configs.models import McpConfig
from configs.tools import config_mappings

from .builder import builder_from_config

CALL_EVENTS = (EventType.TOOL_CALLED, EventType.TOOL_DENIED)


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    delta: timedelta
    bucket: str  # "hour" or "day": one chart bar each


PERIODS = {
    "24h": Period("24h", "last 24 hours", timedelta(hours=24), "hour"),
    "7d": Period("7d", "last 7 days", timedelta(days=7), "day"),
    "30d": Period("30d", "last 30 days", timedelta(days=30), "day"),
}
DEFAULT_PERIOD = "30d"


def period_for(key: str | None) -> Period:
    return PERIODS.get(key or "", PERIODS[DEFAULT_PERIOD])


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(f) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def _int_key(key: str) -> Cast:
    return Cast(KeyTextTransform(key, "extra"), IntegerField())


@dataclass(frozen=True)
class Bar:
    start: datetime
    counts: dict[str, int]  # outcome → calls
    total: int
    heights: dict[str, float] = field(default_factory=dict)  # % of the busiest bar, per outcome


@dataclass(frozen=True)
class Latency:
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class Savings:
    listings: int  # tools/list answers sent
    sent_tokens: int  # tokens of tool definitions they carried
    full_tokens: int  # what the full catalogs of the same connections would have carried

    @property
    def saved_tokens(self) -> int:
        return max(self.full_tokens - self.sent_tokens, 0)

    @property
    def percent(self) -> int | None:
        return round(100 * self.saved_tokens / self.full_tokens) if self.full_tokens else None


@dataclass(frozen=True)
class Activity:
    period: Period
    since: datetime
    calls: int
    errors: int
    denied: int
    total: Latency
    vmcp: Latency
    provider: Latency
    bars: list[Bar]
    savings: Savings
    top_tools: list[dict[str, Any]]
    top_users: list[dict[str, Any]]
    recent_errors: list[AuditEvent]

    @property
    def error_rate(self) -> float | None:
        return round(100 * self.errors / self.calls, 1) if self.calls else None

    @property
    def peak(self) -> int:
        return max((b.total for b in self.bars), default=0)


def activity(
    *, period: Period, config_id: uuid.UUID | None = None, now: datetime | None = None
) -> Activity:
    now = (now or timezone.now()).astimezone(UTC)
    first, starts = _buckets(period, now)
    rows = AuditEvent.objects.filter(occurred_at__gte=first)
    if config_id is not None:
        rows = rows.filter(config_id=config_id)
    calls = rows.filter(event_type__in=CALL_EVENTS)
    counts = calls.aggregate(
        calls=Count("id"),
        errors=Count("id", filter=Q(outcome=Outcome.ERROR)),
        denied=Count("id", filter=Q(outcome=Outcome.DENIED)),
    )
    return Activity(
        period=period,
        since=first,
        calls=counts["calls"],
        errors=counts["errors"],
        denied=counts["denied"],
        **_latencies(rows.filter(event_type=EventType.TOOL_CALLED, latency_ms__isnull=False)),
        bars=_bars(calls, period, starts),
        savings=_savings(rows.filter(event_type=EventType.TOOLS_LISTED)),
        top_tools=_top(calls, "tool_name"),
        top_users=_top(calls, "identifier"),
        recent_errors=list(
            rows.exclude(outcome=Outcome.OK).exclude(event_type=EventType.TOOLS_LISTED)[:8]
        ),
    )


def _buckets(period: Period, now: datetime) -> tuple[datetime, list[datetime]]:
    """The first bar's start and every bar's start: whole UTC days (or hours), oldest first."""
    if period.bucket == "hour":
        last = now.replace(minute=0, second=0, microsecond=0)
        count, step = 24, timedelta(hours=1)
    else:
        last = now.replace(hour=0, minute=0, second=0, microsecond=0)
        count, step = period.delta.days, timedelta(days=1)
    starts = [last - step * (count - 1 - i) for i in range(count)]
    return starts[0], starts


def _bars(calls: QuerySet[AuditEvent], period: Period, starts: list[datetime]) -> list[Bar]:
    trunc = (
        TruncHour("occurred_at", tzinfo=UTC)
        if period.bucket == "hour"
        else TruncDate("occurred_at", tzinfo=UTC)
    )
    grouped: dict[Any, dict[str, int]] = {}
    for row in calls.annotate(b=trunc).values("b", "outcome").annotate(n=Count("id")):
        grouped.setdefault(row["b"], {})[row["outcome"]] = row["n"]
    keyed = {(s if period.bucket == "hour" else s.date()): s for s in starts}
    peak = max((sum(c.values()) for c in grouped.values()), default=0) or 1
    bars = []
    for key, start in keyed.items():
        found = grouped.get(key, {})
        counts = {o: found.get(o, 0) for o in Outcome.values}
        bars.append(
            Bar(
                start=start,
                counts=counts,
                total=sum(counts.values()),
                heights={o: round(100 * n / peak, 2) for o, n in counts.items()},
            )
        )
    return bars


def _latencies(called: QuerySet[AuditEvent]) -> dict[str, Latency]:
    provider = _int_key("provider_ms")
    split = called.filter(extra__has_key="provider_ms")
    total = called.aggregate(p50=Percentile("latency_ms", 0.5), p95=Percentile("latency_ms", 0.95))
    parts = split.annotate(p=provider, v=F("latency_ms") - provider).aggregate(
        p50=Percentile("p", 0.5),
        p95=Percentile("p", 0.95),
        v50=Percentile("v", 0.5),
        v95=Percentile("v", 0.95),
    )
    return {
        "total": Latency(total["p50"], total["p95"]),
        "provider": Latency(parts["p50"], parts["p95"]),
        "vmcp": Latency(parts["v50"], parts["v95"]),
    }


def _savings(listed: QuerySet[AuditEvent]) -> Savings:
    """Tokens the listings sent versus what the same servers' full catalogs would have sent.

    The full size is today's catalog of each server's connections (what "no scoping" means
    now); a server since deleted counts its listings as sent, with nothing saved.
    """
    per_config = listed.values("config_id").annotate(
        n=Count("id"), sent=Sum(_int_key("token_count"))
    )
    configs = {
        c.pk: c for c in McpConfig.objects.filter(pk__in=[r["config_id"] for r in per_config])
    }
    listings = sent = full = 0
    for row in per_config:
        count, tokens = row["n"], row["sent"] or 0
        listings, sent = listings + count, sent + tokens
        config = configs.get(row["config_id"])
        if config is None:
            full += tokens
            continue
        connections = [m.connection for m in config_mappings(config)]
        full += count * builder_from_config(config, connections).catalog_tokens
    return Savings(listings=listings, sent_tokens=sent, full_tokens=full)


def _top(calls: QuerySet[AuditEvent], column: str, limit: int = 5) -> list[dict[str, Any]]:
    return list(
        calls.exclude(**{column: ""})
        .values(column)
        .annotate(calls=Count("id"), failures=Count("id", filter=~Q(outcome=Outcome.OK)))
        .order_by("-calls", column)[:limit]
    )
