"""Streaming the audit trail out as CSV or JSON Lines, a chunk at a time.

Rows come from a server-side cursor (``.iterator(chunk_size=…)``), are encoded in batches and
handed to the response one batch at a time, so memory stays flat however many rows match.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import QuerySet
from django_tenants.utils import tenant_context

from tenants.models import Tenant

from .models import AuditEvent

FIELDS = (
    "id",
    "occurred_at",
    "event_type",
    "outcome",
    "error_code",
    "actor",
    "identifier",
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
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CURSOR_CHUNK_SIZE = 2000
ROWS_PER_PART = 500
# Spreadsheets run cells starting with these as formulas; identifiers and tool names are
# caller-controlled, so a CSV cell must never start with one (OWASP "CSV injection").
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _rows(tenant: Tenant, qs: QuerySet[AuditEvent]) -> Iterator[dict[str, Any]]:
    # The response body is produced after the tenant middleware has reset the connection to
    # the public schema, so the generator selects the tenant's schema itself.
    with tenant_context(tenant):
        yield from qs.values(*FIELDS).iterator(chunk_size=CURSOR_CHUNK_SIZE)


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, int | str | dict | list | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _csv_cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "extra":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def export_parts(tenant: Tenant, qs: QuerySet[AuditEvent], fmt: str) -> Iterator[bytes]:
    """Encoded body parts: a header (CSV), then one part per ``ROWS_PER_PART`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(FIELDS)
    count = 0
    for row in _rows(tenant, qs):
        if writer is not None:
            writer.writerow([_csv_cell(name, row[name]) for name in FIELDS])
        else:
            buffer.write(
                json.dumps({name: _json_value(row[name]) for name in FIELDS}, sort_keys=False)
            )
            buffer.write("\n")
        count += 1
        if count % ROWS_PER_PART == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


async def export_parts_async(
    tenant: Tenant, qs: QuerySet[AuditEvent], fmt: str
) -> AsyncIterator[bytes]:
    """The same parts for ASGI. Django would read a sync iterator into a list there first.

    Each step runs in the request's thread-sensitive executor, so the server-side cursor stays
    on the connection that opened it.
    """
    parts = export_parts(tenant, qs, fmt)
    step = sync_to_async(next, thread_sensitive=True)
    close = sync_to_async(parts.close, thread_sensitive=True)
    sentinel = object()
    try:
        while (part := await step(parts, sentinel)) is not sentinel:
            yield part  # type: ignore[misc]
    finally:
        await close()
