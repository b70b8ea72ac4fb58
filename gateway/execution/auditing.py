"""The audit rows of tool calls: ``tool.called`` for executed calls, ``tool.denied`` for refusals.

Every row of a call carries the same who/what/where (``CallRecord``, sanitised when it is built,
before the call runs) plus the outcome, error code and latency. A row the database refuses is
spooled to Redis and inserted later (``audit.spool``). Arguments are stored only when the
tenant opted in, sanitized. Credentials never reach this module.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import EventType, Outcome
from audit.services import audit_record, audit_row, sanitize
from audit.spool import spool_push
from tenants.models import Tenant
from vmcp_platform.errors import ApplicationError, ServiceUnavailable
from vmcp_platform.observability.tracing import AUDIT, traced
from vmcp_platform.sanitize import wire_request_id, wire_text, wire_value

from .db import run_db

logger = logging.getLogger(__name__)


@dataclass
class CallRecord:
    """Who/what/where of one call: the fields every audit row of it carries.

    Built before anything runs, and every text field is passed through the wire sanitiser here
    (``vmcp_platform.sanitize``): no value from the wire can make the audit insert fail.
    """

    tenant: Tenant
    connection_name: str
    tool_name: str
    identifier: str
    actor: str
    config_id: Any
    session_token_id: Any
    exposed_name: str | None
    request_id: str
    agent_run_id: str
    execution_id: str
    started: float = field(default_factory=time.monotonic)
    account_id: int | None = None
    arguments: dict[str, Any] | None = None  # only when the tenant stores arguments
    provider_seconds: float = 0.0  # the provider call's share of the latency (metrics)
    # (schema, row) → awaits the row's commit; None: the ORM path (``gateway.warm.audit``).
    writer: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        self.connection_name = wire_text(self.connection_name, max_len=100)
        self.tool_name = wire_text(self.tool_name, max_len=128)
        self.identifier = wire_text(self.identifier, max_len=255)
        self.actor = wire_text(self.actor, max_len=255)
        if self.exposed_name is not None:
            self.exposed_name = wire_text(self.exposed_name, max_len=128)
        self.request_id = wire_request_id(self.request_id)
        self.agent_run_id = wire_text(self.agent_run_id, max_len=128)

    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


# The error an agent was shown, as kept on its audit row: enough to read, bounded.
ERROR_MESSAGE_CHARS = 300


def error_text(result: Any) -> str:
    """The first text block of an error result, cut to ``ERROR_MESSAGE_CHARS``."""
    for block in result.content or ():
        if isinstance(block, dict) and block.get("type") == "text":
            return str(block.get("text", ""))[:ERROR_MESSAGE_CHARS]
    return ""


def _fields(
    call: CallRecord, *, event_type: str, outcome: str, error_code: str = "", **extra: Any
) -> dict[str, Any]:
    """The ``audit_record`` arguments of one row of ``call``."""
    extra = {k: v for k, v in extra.items() if v is not None}
    extra["execution_id"] = call.execution_id
    if call.provider_seconds:
        # The provider's share of latency_ms; the rest is vmcp's own (overview p50/p95 split).
        extra["provider_ms"] = round(call.provider_seconds * 1000)
    if call.exposed_name and call.exposed_name != call.tool_name:
        extra["exposed_name"] = call.exposed_name
    if call.arguments is not None:
        extra["arguments"] = wire_value(sanitize(call.arguments))
    return {
        "event_type": event_type,
        "outcome": outcome,
        "error_code": error_code,
        "actor": call.actor,
        "identifier": call.identifier,
        "session_token_id": call.session_token_id,
        "config_id": call.config_id,
        "connection_name": call.connection_name,
        "account_id": call.account_id,
        "tool_name": call.tool_name,
        "latency_ms": call.latency_ms(),
        "request_id": call.request_id,
        "agent_run_id": call.agent_run_id,
        "extra": wire_value(extra),
    }


def _insert(tenant: Tenant, fields: dict[str, Any], occurred_at: datetime) -> None:
    with tenant_context(tenant), transaction.atomic():
        audit_record(**fields, occurred_at=occurred_at)


async def _write(call: CallRecord, **row: Any) -> Exception | None:
    """Insert the row; if the database refuses it, spool it (``audit.spool``).

    Returns None when the row is in the table, else why it is not (it was spooled, or with
    Redis down too, logged at ERROR).
    """
    fields = _fields(call, **row)
    occurred_at = timezone.now()  # kept by a spooled row, so it is replayed with this time
    try:
        if call.writer is not None:
            # The warm MCP path's group commit: committed when this returns.
            row = audit_row(**fields, occurred_at=occurred_at)
            await traced(AUDIT, call.writer(call.tenant.schema_name, row))
        else:
            await traced(AUDIT, run_db(_insert, call.tenant, fields, occurred_at))
    except Exception as exc:
        logger.exception("audit row for execution %s refused; spooling it", call.execution_id)
        await spool_push(
            schema_name=call.tenant.schema_name, fields=fields, occurred_at=occurred_at
        )
        return exc
    return None


async def call_denied(
    call: CallRecord, error: ApplicationError, *, error_code: str | None = None
) -> ApplicationError:
    """Audit a refusal; returns the error to raise (a 503 instead if the database is down)."""
    extra: dict[str, Any] = {"error_message": error.message[:ERROR_MESSAGE_CHARS]}
    if error.code == "rate_limited":
        extra["scope"] = error.details.get("scope")
    failure = await _write(
        call,
        event_type=EventType.TOOL_DENIED,
        outcome=Outcome.DENIED,
        error_code=error_code or error.code,
        **extra,
    )
    if isinstance(failure, ServiceUnavailable) and not isinstance(error, ServiceUnavailable):
        return failure  # the database is down: say so (the row was spooled)
    return error  # nothing ran; the refusal stands (a refused row was spooled)


async def call_recorded(
    call: CallRecord, outcome: str, error_code: str, extra: dict[str, Any]
) -> None:
    """Record an executed call; never raises: the tool ran, so the result is the agent's.

    A row the database refuses (lost in between, or any other failure) is spooled by
    ``_write`` and inserted later: recorded whatever happens.
    """
    await _write(
        call, event_type=EventType.TOOL_CALLED, outcome=outcome, error_code=error_code, **extra
    )


async def tool_denial_record(
    *,
    tenant: Tenant,
    tool_name: str,
    identifier: str,
    actor: str,
    error_code: str,
    connection_name: str = "",
    config_id: Any = None,
    session_token_id: Any = None,
    request_id: str = "",
    agent_run_id: str = "",
    writer: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
) -> None:
    """Audit a call refused before it reached ``tool_execute`` (e.g. a name not in the config).

    Raises ``ServiceUnavailable`` when the database is down (the row is spooled all the same).
    """
    call = CallRecord(
        tenant=tenant,
        connection_name=connection_name,
        tool_name=tool_name,
        identifier=identifier,
        actor=actor,
        config_id=config_id,
        session_token_id=session_token_id,
        exposed_name=None,
        request_id=request_id,
        agent_run_id=agent_run_id,
        execution_id=str(uuid.uuid4()),
        writer=writer,
    )
    failure = await _write(
        call, event_type=EventType.TOOL_DENIED, outcome=Outcome.DENIED, error_code=error_code
    )
    if isinstance(failure, ServiceUnavailable):
        raise failure  # spooled; the database is down, so the caller answers 503


def definition_tokens(definitions: list[dict[str, Any]]) -> int:
    """Tokens of tool definitions, as the dashboard estimates them (~4 JSON characters each)."""
    return sum(
        max(1, round(len(json.dumps(d, separators=(",", ":"), default=str)) / 4))
        for d in definitions
    )


async def tools_listed_record(
    *,
    tenant: Tenant,
    identifier: str,
    actor: str,
    config_id: Any,
    session_token_id: Any,
    definitions: list[dict[str, Any]],
    total: int,
    writer: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
) -> None:
    """Record what a ``tools/list`` sends (all its pages, at the first): the overview's real
    token savings.

    Bounded: one small row per listing (two counts, no definitions). Never raises: a listing
    the agent received is not undone because its row could not be written (that is logged).
    """
    fields = {
        "event_type": EventType.TOOLS_LISTED,
        "outcome": Outcome.OK,
        "actor": wire_text(actor, max_len=255),
        "identifier": wire_text(identifier, max_len=255),
        "config_id": config_id,
        "session_token_id": session_token_id,
        # "_count" names: the audit sanitiser drops values under keys that merely contain "token".
        "extra": {"tool_count": total, "token_count": definition_tokens(definitions)},
    }
    occurred_at = timezone.now()
    try:
        if writer is not None:
            await writer(tenant.schema_name, audit_row(**fields, occurred_at=occurred_at))
        else:
            await run_db(_insert, tenant, fields, occurred_at)
    except Exception:
        logger.warning("tools/list audit row for config %s not written", config_id, exc_info=True)
