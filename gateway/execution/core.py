"""The one execution path for a tool call (REST ``execute_tool`` and MCP ``tools/call``).

Order: record → connection → tool → arguments → rate limit → credential → provider → audit.
Every step that can refuse runs before anything reaches a provider.

The audit contract — **recorded whatever happens**:

1. The call's record (``CallRecord``) is built first, before any lookup, and every value in it
   that came off the wire (tool and exposed names, identifier, connection name, JSON-RPC id,
   ``agentRunId``, actor) is sanitised and bounded there (``vmcp_platform.sanitize``): NUL,
   control characters, lone surrogates and oversize values are removed, so no input can make
   the audit insert fail. (The edges refuse what they must refuse before this: the REST
   serializer answers 400 for a NUL or oversize identifier, tool or connection name.)
2. A refusal is written as ``tool.denied``; an executed call as ``tool.called`` after the
   call, when latency and outcome are known.
3. If that insert still fails (the database was lost between the checks and the call, or it
   refused the row for any other reason), the row goes to a durable spool in Redis
   (``audit.spool``) that Celery beat drains every few seconds (``audit.tasks.drain_spool``,
   also ``manage.py audit_drain_spool``), idempotently by execution id. The agent still gets
   the tool's result: it must not retry a call that ran. Only when Redis cannot take the row
   either is it logged at ERROR (redacted).

What raises and what returns:

- Raised (``ApplicationError``; the caller maps them to a JSON-RPC error, an MCP ``isError``
  result or a REST error): unknown connection (``not_found``), unknown tool (``unknown_tool``,
  404), invalid arguments (``validation_error``, 400), no usable account (``no_active_account`` /
  ``account_expired``, 409), an upstream connection without its shared header
  (``connection_not_configured``, 409), rate limited (429, ``retry_after``, details.scope
  "tenant" | "user"), Redis or database down (``service_unavailable``, 503), an unreadable
  credential (``credential_unavailable``, 503). Nothing was executed; a ``tool.denied`` row
  was written (unless the database itself is down).
- Raised after the call: an upstream MCP server's JSON-RPC error that concerns the agent's
  own request (``CLIENT_VISIBLE_JSONRPC_CODES``, e.g. -32021 missing client capability), as
  the ``ProviderError`` carrying ``details["jsonrpc_code"/"jsonrpc_data"]``, so the MCP
  endpoint answers with that JSON-RPC error. A ``tool.called`` row (outcome error,
  ``upstream_protocol_error``) was written.
- Returned as ``ToolResult(is_error=True)``: the tool ran (or was attempted) and failed —
  provider 401 (the account is marked EXPIRED, the message says to reconnect), 403, 404, 429
  (with retry-after), timeouts, unreachable provider, oversized response, a local tool refusing
  its input. ``ExecutionResult.error`` carries the matching ``ApplicationError`` so the REST
  endpoint can answer with a precise status. An upstream MCP tool that itself answered
  ``isError`` is passed through with ``error=None`` and ``error_code="tool_error"``.

``execution_id`` is a UUID generated per call and stored in the audit row's
``extra["execution_id"]`` (the row itself is written after the call, so its primary key can't
be handed out earlier; the execution id is also the spool's idempotency key). ``latency_ms``
is the wall time of the whole call as the agent experienced it.

The credential is a local variable of ``tool_execute``: it is decrypted (by the vault) just
before the provider call, passed to the connector, and dropped; it is never logged, audited or
put in an error message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from audit.models import Outcome
from configs.models import Connection
from connectors import get_connector
from connectors.base import Tool, ToolResult
from connectors.openapi import OPENAPI_CONNECTOR
from gateway.ratelimit import limits_for, rate_limit_consume
from tenants.models import Tenant
from vmcp_platform.egress import call_timeout, http_client
from vmcp_platform.errors import (
    ApplicationError,
    NotFound,
    ProviderError,
    ServiceUnavailable,
    ValidationFailed,
)
from vmcp_platform.logging import redact
from vmcp_platform.observability import metrics, tracing
from vmcp_platform.observability import request as observed
from vmcp_platform.observability.calls import provider_call
from vmcp_platform.sanitize import is_clean_text, wire_text

from .auditing import CallRecord, call_denied, call_recorded, error_text
from .db import run_db
from .failures import error_result, provider_failure
from .preparation import (
    MCP_CONNECTOR,
    Credential,
    Prepared,
    account_expire_after_401,
    account_step_up_link,
    credential_resolve,
    prepare,
)
from .validation import UNSET, arguments_validate

logger = logging.getLogger(__name__)

ProgressCallback = Callable[..., Awaitable[None]]
AuditWriter = Callable[[str, dict[str, Any]], Awaitable[None]]

# JSON-RPC errors of an upstream MCP server that are about the agent's own request, so they are
# relayed as that error (ProviderError.details["jsonrpc_code"/"jsonrpc_data"]) rather than turned
# into an isError result: -32021 MissingRequiredClientCapability (2026-07-28).
CLIENT_VISIBLE_JSONRPC_CODES = frozenset({-32021})


@dataclass(frozen=True)
class ExecutionResult:
    result: ToolResult
    execution_id: str
    latency_ms: int
    # For failed executions: the stable error code (also in the audit row) and the error the
    # REST endpoint answers with. Empty / None when the call succeeded.
    error_code: str = ""
    error: ApplicationError | None = None


# ------------------------------------------------------------------ the call


async def tool_execute(
    *,
    tenant: Tenant,
    connection_name: str,
    tool_name: str,
    identifier: str,
    arguments: dict[str, Any],
    actor: str,
    config_id: Any = None,
    session_token_id: Any = None,
    exposed_name: str | None = None,
    request_id: str = "",
    agent_run_id: str = "",
    progress_callback: ProgressCallback | None = None,
    log_callback: ProgressCallback | None = None,
    relay: Any = None,
    prepared: Prepared | None = None,
    validator: Any = UNSET,
    writer: AuditWriter | None = None,
) -> ExecutionResult:
    """Run one tool for one end user; see the module docstring for what raises and what returns.

    ``log_callback`` (upstream ``mcp`` connections only) receives the upstream's log
    notifications' params while the call runs, for relaying to the agent; ``relay``
    (``connectors.mcp_relay.Relay``, upstream ``mcp`` connections only) lets the upstream ask
    the agent's client for sampling, elicitation or roots.
    """
    call = CallRecord(
        tenant=tenant,
        connection_name=connection_name,
        tool_name=tool_name,
        identifier=identifier,
        actor=actor,
        config_id=config_id,
        session_token_id=session_token_id,
        exposed_name=exposed_name,
        request_id=request_id,
        agent_run_id=agent_run_id,
        execution_id=str(uuid.uuid4()),
        writer=writer,
    )
    observed.note_execution(call.execution_id)
    # Lookups take the values as given; one that the database could not even compare (a NUL)
    # or no row could hold is refused here, recorded with its sanitised form.
    if not is_clean_text(connection_name, max_len=100):
        unknown = NotFound("Unknown connection.", details={"connection_name": call.connection_name})
        raise await call_denied(call, unknown, error_code="unknown_connection")
    if not is_clean_text(identifier, max_len=255):
        invalid = ValidationFailed(
            "identifier must be at most 255 characters, without control characters.",
            details={"identifier": "invalid"},
        )
        raise await call_denied(call, invalid)
    if prepared is None:
        try:
            prepared = await run_db(prepare, tenant, connection_name, tool_name, config_id)
        except NotFound as exc:
            raise await call_denied(call, exc, error_code="unknown_connection") from exc
    if prepared.store_arguments and isinstance(arguments, dict):
        call.arguments = arguments
    connection = prepared.connection
    definition = prepared.definition
    if definition is None:
        raise await call_denied(call, _unknown_tool(connection_name, exposed_name or tool_name))
    tool = _catalog_tool(connection, tool_name)
    if connection.connector not in (MCP_CONNECTOR, OPENAPI_CONNECTOR) and tool is None:
        raise await call_denied(call, _unknown_tool(connection_name, exposed_name or tool_name))

    try:
        arguments_validate(
            cache_key=f"{tenant.schema_name}:{connection.pk}:{tool_name}",
            tool_name=exposed_name or tool_name,
            schema=definition.get("inputSchema"),
            arguments=arguments,
            validator=validator,
        )
        limits = limits_for(
            schema=tenant.schema_name,
            tenant_limit=prepared.tenant_limit,
            user_limit=prepared.user_limit,
            config_id=config_id,
            config_limit=prepared.config_limit,
            identifier=identifier,
            end_user_limit=prepared.end_user_limit,
            tool_name=tool_name,
            tool_limit=prepared.tool_limit,
        )
        await tracing.traced(tracing.RATE_LIMIT, rate_limit_consume(limits))
        if connection.auth_type == Connection.AuthType.NONE:
            # Nothing to read: no account, no vault, no header (what credential_resolve returns
            # for this auth type), so no trip to the database thread.
            credential = Credential(value=None, upstream_headers={}, account_id=None)
        else:
            credential = await tracing.traced(
                tracing.CREDENTIAL,
                run_db(credential_resolve, tenant, connection, identifier, session_token_id),
            )
    except ApplicationError as exc:
        raise await call_denied(call, exc) from exc
    except Exception as exc:
        # E.g. a vault DecryptionError: refuse, audited, without saying more than needed.
        logger.exception("credential for a call on %s could not be read", connection_name)
        unreadable = ApplicationError(
            "The user's credential could not be read; the call was refused.",
            code="credential_unavailable",
            status=503,
        )
        raise await call_denied(call, unreadable) from exc
    call.account_id = credential.account_id

    error: ApplicationError | None = None
    extra: dict[str, Any] = {}
    try:
        result = await provider_call(
            call,
            connection.connector,
            _run(
                connection,
                tool,
                tool_name,
                arguments,
                credential,
                prepared.urls,
                progress_callback,
                definition=definition,
                log_callback=log_callback,
                relay=relay,
                # One upstream session per tenant, connection and end user, never shared wider.
                session_scope=f"{tenant.schema_name}:{connection.pk}:{identifier}",
            ),
        )
        error_code = "tool_error" if result.is_error else ""
    except ProviderError as exc:
        if exc.details.get("jsonrpc_code") in CLIENT_VISIBLE_JSONRPC_CODES:
            # A protocol-level refusal by the upstream that the agent's client must see as that
            # JSON-RPC error (not an isError result): recorded, then re-raised for the caller.
            await call_recorded(call, Outcome.ERROR, "upstream_protocol_error", extra)
            raise
        failure = provider_failure(exc, connection=connection, identifier=identifier)
        if failure.code == "insufficient_scope":
            try:
                link = await run_db(
                    account_step_up_link, tenant, connection, identifier, failure.step_up_scopes
                )
                failure = failure.with_link(link)
            except Exception:  # the step-up message still says what is missing
                logger.warning("no step-up link for execution %s", call.execution_id)
        metrics.count_provider_error(connection.connector, failure.code)
        result, error, error_code = failure.result(), failure.error(exc), failure.code
        extra["provider_status"] = exc.provider_status
        if failure.expire_account:
            try:
                await run_db(account_expire_after_401, tenant, connection, identifier, actor)
            except ServiceUnavailable:
                logger.error("could not mark account expired (execution %s)", call.execution_id)
    except ApplicationError as exc:
        # A local tool refusing its input (e.g. an unknown time zone): the agent can fix it.
        result, error, error_code = error_result(redact(exc.message)), exc, exc.code
    except asyncio.CancelledError:
        # The agent gave up (or the connection dropped) mid-call; the provider may have acted,
        # so the attempt is still recorded.
        await asyncio.shield(call_recorded(call, Outcome.ERROR, "cancelled", {}))
        raise
    except Exception:
        logger.exception("tool %s on %s failed unexpectedly", tool_name, connection_name)
        message = "The tool call failed unexpectedly."
        error = ProviderError(message, details={"reason": "internal_error"})
        result, error_code = error_result(message), "internal_error"
    finally:
        del credential

    latency_ms = call.latency_ms()
    outcome = Outcome.ERROR if result.is_error else Outcome.OK
    if result.is_error:
        extra["error_message"] = error_text(result)  # what the agent read (audit detail)
    await call_recorded(call, outcome, error_code, extra)
    metrics.observe_tool_call(
        connector=connection.connector, started=call.started, provider_seconds=call.provider_seconds
    )
    if error is not None:
        error.details.setdefault("execution_id", call.execution_id)
    return ExecutionResult(
        result=result,
        execution_id=call.execution_id,
        latency_ms=latency_ms,
        error_code=error_code,
        error=error,
    )


def _catalog_tool(connection: Connection, tool_name: str) -> Tool | None:
    connector = get_connector(connection.connector)
    return connector.get_tool(tool_name) if connector is not None else None


async def _run(
    connection: Connection,
    tool: Tool | None,
    tool_name: str,
    arguments: dict[str, Any],
    credential: Credential,
    urls: dict[str, Any],
    progress_callback: ProgressCallback | None,
    *,
    definition: dict[str, Any] | None = None,
    log_callback: ProgressCallback | None = None,
    session_scope: str | None = None,
    relay: Any = None,
) -> ToolResult:
    if connection.connector == MCP_CONNECTOR:
        from connectors import mcp_upstream

        return await mcp_upstream.call_tool(
            server_url=urls.get("server_url") or connection.settings.get("server_url", ""),
            headers=credential.upstream_headers,
            name=tool_name,
            arguments=arguments,
            progress_callback=progress_callback,
            timeout=call_timeout(),
            log_callback=log_callback,
            session_scope=session_scope,
            relay=relay,
            tool=definition,
        )
    if connection.connector == OPENAPI_CONNECTOR:
        return await _run_openapi(connection, tool_name, arguments, credential.value)
    connector = get_connector(connection.connector)
    assert connector is not None and tool is not None  # checked by tool_execute
    return await connector.execute(
        tool,
        arguments,
        credential=credential.value,
        base_url=urls.get("api_base_url") or connector.api_base_url,
        client=http_client(),
        timeout=call_timeout(),
    )


async def _run_openapi(
    connection: Connection, tool_name: str, arguments: dict[str, Any], credential: str | None
) -> ToolResult:
    from configs.selectors import connection_openapi_tool
    from connectors.openapi import PLAN_KEY
    from connectors.openapi.connector import call_tool

    stored = connection_openapi_tool(connection, tool_name)
    assert stored is not None  # its definition was found by prepare
    settings_ = connection.settings or {}
    return await call_tool(
        definition=stored,
        plan=stored[PLAN_KEY],
        arguments=arguments,
        server_url=settings_.get("server_url", ""),
        auth=settings_.get("auth"),
        credential=credential,
        client=http_client(),
        timeout=call_timeout(),
        label=connection.name,
    )


def _unknown_tool(connection_name: str, tool_name: str) -> NotFound:
    # Echo a bounded, cleaned name: the request may carry a megabyte of it.
    name = wire_text(tool_name, max_len=128)
    connection_name = wire_text(connection_name, max_len=100)
    return NotFound(
        f"Unknown tool '{name}' on connection '{connection_name}'.",
        code="unknown_tool",
        details={"tool_name": name, "connection_name": connection_name},
    )
