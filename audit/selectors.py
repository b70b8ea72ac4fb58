"""Reading the audit trail: filtered, newest first, with an opaque keyset cursor."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from vmcp_platform.errors import NotFound, ValidationFailed

from .models import AuditEvent


@dataclass(frozen=True)
class AuditFilters:
    identifier: str | None = None
    tool: str | None = None
    config: uuid.UUID | None = None
    connection: str | None = None
    outcome: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def audit_events_filtered(*, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The current tenant's events matching ``filters``, newest first (ties broken by id)."""
    qs = AuditEvent.objects.all()
    if filters.identifier is not None:
        qs = qs.filter(identifier=filters.identifier)
    if filters.tool is not None:
        qs = qs.filter(tool_name=filters.tool)
    if filters.config is not None:
        qs = qs.filter(config_id=filters.config)
    if filters.connection is not None:
        qs = qs.filter(connection_name=filters.connection)
    if filters.outcome is not None:
        qs = qs.filter(outcome=filters.outcome)
    if filters.event_type is not None:
        qs = qs.filter(event_type=filters.event_type)
    if filters.since is not None:
        qs = qs.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        qs = qs.filter(occurred_at__lt=filters.until)
    # The order the (-occurred_at, -id) index serves and the cursor relies on.
    return qs.order_by("-occurred_at", "-id")


def audit_event_page(*, filters: AuditFilters, cursor: str | None, limit: int) -> AuditPage:
    """One page of events after ``cursor``; keyset pagination, so pages never skip or repeat."""
    qs = audit_events_filtered(filters=filters)
    if cursor:
        occurred_at, last_id = cursor_decode(cursor)
        qs = qs.filter(Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=last_id))
    events = list(qs[: limit + 1])
    next_cursor = None
    if len(events) > limit:
        events = events[:limit]
        next_cursor = cursor_encode(events[-1])
    return AuditPage(events=events, next_cursor=next_cursor)


def audit_event_get(*, event_id: int) -> AuditEvent:
    # Each tenant's events live in its own schema: another tenant's id simply is not here.
    event = AuditEvent.objects.filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such audit event.", details={"id": event_id})
    return event


def cursor_encode(event: AuditEvent) -> str:
    raw = json.dumps([event.occurred_at.isoformat(), event.pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        occurred_at_text, last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        occurred_at = parse_datetime(occurred_at_text)
        if occurred_at is None or occurred_at.tzinfo is None or not isinstance(last_id, int):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise ValidationFailed(
            "The cursor is not one this API returned.", details={"cursor": ["Invalid cursor."]}
        ) from None
    return occurred_at, last_id
