"""The audit rows of tool calls: ``tool.called`` for executed calls, ``tool.denied`` for refusals.

Every row of a call carries the same who/what/where (``CallRecord``) plus the outcome, error
code and latency. Arguments are stored only when the tenant opted in, sanitized. Credentials
never reach this module.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django_tenants.utils import tenant_context

from audit.models import EventType, Outcome
from audit.services import audit_record, audit_row, sanitize
from tenants.models import Tenant
from vmcp_platform.errors import ApplicationError, ServiceUnavailable

from .db import run_db

logger = logging.getLogger(__name__)


@dataclass
class CallRecord:
    """Who/what/where of one call: the fields every audit row of it carries."""

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
    # (schema, row) → awaits the row's commit; None: the ORM path (``gateway.warm.audit``).
    writer: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None

    def latency_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def _fields(
    call: CallRecord, *, event_type: str, outcome: str, error_code: str = "", **extra: Any
) -> dict[str, Any]:
    """The ``audit_record`` arguments of one row of this call."""
    extra = {k: v for k, v in extra.items() if v is not None}
    extra["execution_id"] = call.execution_id
    if call.exposed_name and call.exposed_name != call.tool_name:
        extra["exposed_name"] = _text(call.exposed_name)
    if call.arguments is not None:
        extra["arguments"] = _without_nul(sanitize(call.arguments))
    return {
        "event_type": event_type,
        "outcome": outcome,
        "error_code": error_code,
        "actor": call.actor,
        "identifier": _text(call.identifier),
        "session_token_id": call.session_token_id,
        "config_id": call.config_id,
        "connection_name": _text(call.connection_name),
        "account_id": call.account_id,
        "tool_name": _text(call.tool_name),
        "latency_ms": call.latency_ms(),
        "request_id": call.request_id or "",
        "agent_run_id": call.agent_run_id or "",
        "extra": extra,
    }


def _write(call: CallRecord, **kwargs: Any) -> None:
    with tenant_context(call.tenant):
        audit_record(**_fields(call, **kwargs))


async def _store(call: CallRecord, **kwargs: Any) -> None:
    """Write one row: through the call's batched writer when it has one (the warm MCP path,
    committed before this returns), through the ORM otherwise. ``ServiceUnavailable`` if lost."""
    if call.writer is not None:
        await call.writer(call.tenant.schema_name, audit_row(**_fields(call, **kwargs)))
        return
    await run_db(_write, call, **kwargs)


def _text(value: str) -> str:
    # PostgreSQL text and jsonb can't hold NUL; a caller-supplied name with one must not turn the
    # audit write (and so the call) into a 500.
    return value.replace("\x00", "")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


async def call_denied(
    call: CallRecord, error: ApplicationError, *, error_code: str | None = None
) -> ApplicationError:
    """Audit a refusal; returns the error to raise (a 503 instead if the audit can't be written)."""
    extra = {"scope": error.details.get("scope")} if error.code == "rate_limited" else {}
    try:
        await _store(
            call,
            event_type=EventType.TOOL_DENIED,
            outcome=Outcome.DENIED,
            error_code=error_code or error.code,
            **extra,
        )
    except ServiceUnavailable as unavailable:
        return error if isinstance(error, ServiceUnavailable) else unavailable
    return error


async def call_recorded(
    call: CallRecord, outcome: str, error_code: str, extra: dict[str, Any]
) -> None:
    try:
        await _store(
            call,
            event_type=EventType.TOOL_CALLED,
            outcome=outcome,
            error_code=error_code,
            **extra,
        )
    except ServiceUnavailable:
        # The database answered moments ago (connection, credential), so the call was allowed;
        # losing it now means this row is missing. Say so loudly; the result is the agent's.
        logger.error("audit row for execution %s could not be written", call.execution_id)


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
    """Audit a call refused before it reached ``tool_execute`` (e.g. a name not in the config)."""
    call = CallRecord(
        tenant=tenant,
        connection_name=connection_name,
        tool_name=tool_name[:128],
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
    await _store(
        call,
        event_type=EventType.TOOL_DENIED,
        outcome=Outcome.DENIED,
        error_code=error_code,
    )
