"""One request for an upstream's prompt, resource or completion, for one end user, audited.

The same order and audit contract as ``core.tool_execute``: the record is built (sanitised)
first; the connection is read fresh, the rate limit consumed and that user's credential
resolved before anything reaches the upstream; a refusal is a ``tool.denied`` row and a
relayed request a ``tool.called`` row. The audit's ``tool_name`` is the MCP method and its
target (``resources/read test://x``, ``prompts/get greet``), bounded, so the audit log and its
filters read these beside tool calls; ``extra.method`` and ``extra.target`` hold them apart.

Scope (is this prompt / URI exposed by the config?) is decided by the caller before this runs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from audit.models import Outcome
from configs.models import Connection
from gateway.ratelimit import limits_for, rate_limit_consume
from tenants.models import Tenant
from vmcp_platform.egress import call_timeout
from vmcp_platform.errors import ApplicationError, NotFound, ProviderError
from vmcp_platform.sanitize import wire_text

from .auditing import CallRecord, call_denied, call_recorded
from .db import run_db
from .failures import provider_failure
from .preparation import Credential, account_expire_after_401, credential_resolve, prepare

logger = logging.getLogger(__name__)

LABEL_MAX = 128
TARGET_MAX = 500

# (server_url, the user's upstream headers, timeout) -> the upstream's result (a wire dict)
UpstreamRequest = Callable[[str, dict[str, str], float], Awaitable[dict[str, Any]]]


def feature_label(method: str, target: str) -> str:
    """The audit row's ``tool_name``: ``<method> <target>``, cleaned and at most 128 chars."""
    return wire_text(f"{method} {target}".strip(), max_len=LABEL_MAX)


def feature_record(
    *,
    tenant: Tenant,
    principal: Any,
    method: str,
    target: str,
    connection_name: str,
    request_id: str,
) -> CallRecord:
    return CallRecord(
        tenant=tenant,
        connection_name=connection_name,
        tool_name=feature_label(method, target),
        identifier=principal.identifier,
        actor=principal.actor,
        config_id=principal.config_id,
        session_token_id=principal.token_id,
        exposed_name=None,
        request_id=request_id,
        agent_run_id="",
        execution_id=str(uuid.uuid4()),
    )


async def feature_denied(call: CallRecord, error: ApplicationError, error_code: str) -> None:
    """Audit a request for something the config does not expose (raises 503 if the DB is down)."""
    failure = await call_denied(call, error, error_code=error_code)
    if failure is not error:
        raise failure


async def feature_execute(
    *,
    call: CallRecord,
    connection_name: str,
    method: str,
    target: str,
    request: UpstreamRequest,
) -> dict[str, Any]:
    """Relay one request to the upstream with that user's credential; audited either way.

    Raises ``ApplicationError`` (refused before the upstream: no account, rate limited, …) or
    ``ProviderError`` (the upstream failed or answered a JSON-RPC error) after recording it.
    """
    tenant = call.tenant
    identifier = call.identifier
    extra: dict[str, Any] = {"method": method, "target": wire_text(target, max_len=TARGET_MAX)}
    try:
        # Read fresh on every request: a deleted connection, a changed limit apply at once.
        prepared = await run_db(prepare, tenant, connection_name, "", call.config_id)
        connection = prepared.connection
        await rate_limit_consume(
            limits_for(
                schema=tenant.schema_name,
                tenant_limit=prepared.tenant_limit,
                user_limit=prepared.user_limit,
                config_id=call.config_id,
                config_limit=prepared.config_limit,
                identifier=identifier,
            )
        )
        if connection.auth_type == Connection.AuthType.NONE:
            credential = Credential(value=None, upstream_headers={}, account_id=None)
        else:
            credential = await run_db(
                credential_resolve, tenant, connection, identifier, call.session_token_id
            )
    except NotFound as exc:
        raise await call_denied(call, exc, error_code="unknown_connection") from exc
    except ApplicationError as exc:
        raise await call_denied(call, exc) from exc
    except Exception as exc:
        logger.exception("credential for a %s on %s could not be read", method, connection_name)
        unreadable = ApplicationError(
            "The user's credential could not be read; the request was refused.",
            code="credential_unavailable",
            status=503,
        )
        raise await call_denied(call, unreadable) from exc
    call.account_id = credential.account_id
    server_url = (connection.settings or {}).get("server_url", "")
    try:
        result = await request(server_url, credential.upstream_headers, call_timeout())
    except ProviderError as exc:
        failure = provider_failure(exc, connection=connection, identifier=identifier)
        code = "upstream_protocol_error" if exc.details.get("jsonrpc_code") else failure.code
        await call_recorded(
            call, Outcome.ERROR, code, {**extra, "provider_status": exc.provider_status}
        )
        if failure.expire_account:
            try:
                await run_db(account_expire_after_401, tenant, connection, identifier, call.actor)
            except ApplicationError:
                logger.error("could not mark account expired (execution %s)", call.execution_id)
        raise
    except asyncio.CancelledError:
        await asyncio.shield(call_recorded(call, Outcome.ERROR, "cancelled", extra))
        raise
    finally:
        del credential
    await call_recorded(call, Outcome.OK, "", extra)
    return result
