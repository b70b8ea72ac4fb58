"""Reading the audit trail: filtered, newest first, with an opaque keyset cursor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from vmcp_platform.errors import NotFound, ValidationFailed
from vmcp_platform.pagination import DESC, OrderFields, Page, keyset_page, ordering

from .models import AuditEvent

# The order the (-occurred_at, -id) index serves and the cursor relies on.
AUDIT_ORDER: OrderFields = (("occurred_at", DESC), ("id", DESC))


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
    return qs.order_by(*ordering(AUDIT_ORDER))


def audit_event_page(*, filters: AuditFilters, cursor: str | None, limit: int) -> Page[AuditEvent]:
    """One page of events after ``cursor``; keyset pagination, so pages never skip or repeat."""
    return keyset_page(
        audit_events_filtered(filters=filters),
        order_fields=AUDIT_ORDER,
        cursor=cursor,
        limit=limit,
        error=_invalid_cursor,
    )


def audit_event_get(*, event_id: int) -> AuditEvent:
    # Each tenant's events live in its own schema: another tenant's id simply is not here.
    event = AuditEvent.objects.filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such audit event.", details={"id": event_id})
    return event


def _invalid_cursor(cursor: str) -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not one this API returned.", details={"cursor": ["Invalid cursor."]}
    )
