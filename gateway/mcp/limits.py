"""The MCP endpoint's shared-state limits, as the consumer and both wires apply them.

* failed bearer authentications per source address (``vmcp_platform.authfail``), audited in
  aggregate (``audit.services.audit_auth_failure``);
* ``initialize`` and ``server/discover`` rate limits (``gateway.ratelimit.handshake_limits``);
* the refusal every bound turns into: HTTP 429, JSON-RPC -32002, ``Retry-After``.

Sessions (``sessions``) and streams (``streams.stream_slot``) count their own slots.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django_tenants.utils import tenant_context

from audit.services import audit_auth_failure
from gateway.ratelimit import handshake_limits, rate_limit_consume
from vmcp_platform import authfail
from vmcp_platform.errors import RateLimited

from . import streams
from .dispatcher import Principal
from .http import Headers
from .jsonrpc import RATE_LIMITED
from .wire import HttpRefusal

logger = logging.getLogger(__name__)


def rate_limit_refusal(exc: RateLimited, request_id: Any = None) -> HttpRefusal:
    retry = max(math.ceil(exc.retry_after), 1)
    return HttpRefusal(
        429,
        exc.message,
        code=RATE_LIMITED,
        request_id=request_id,
        data={"retryAfterSeconds": retry, "scope": exc.details.get("scope")},
        headers={"Retry-After": str(retry)},
    )


async def handshake_allow(principal: Principal, request_id: Any) -> None:
    """Take one ``initialize``/``server/discover`` from the token's and tenant's allowance."""
    limits = handshake_limits(schema=principal.tenant.schema_name, token_id=principal.token_id)
    try:
        await rate_limit_consume(limits)
    except RateLimited as exc:
        raise rate_limit_refusal(exc, request_id) from None


@asynccontextmanager
async def stream_slot(principal: Principal, request_id: Any = None) -> AsyncIterator[None]:
    """A stream slot for the body, its refusal being the endpoint's 429."""
    try:
        slot = await streams.StreamSlot.acquire(
            tenant_schema=principal.tenant.schema_name, token_id=principal.token_id
        )
    except RateLimited as exc:
        raise rate_limit_refusal(exc, request_id) from None
    try:
        yield
    finally:
        await slot.release()


def request_source(scope: dict[str, Any], headers: Headers) -> str:
    client = scope.get("client")
    peer = client[0] if client else None
    return authfail.source_address(peer, headers.get("x-forwarded-for"))


async def auth_blocked(source: str) -> HttpRefusal | None:
    """The refusal for a source that failed authentication too often, or None.

    Only its *failures* are refused: a valid token from a blocked source still gets in, since
    agents of many users (and tenants) often share one egress address, and one attacker
    there must not lock all of them out. Guessing a token is hopeless anyway (40 random
    characters); what the block stops is the flood of failures and their audit rows.
    """
    retry = await authfail.blocked_for_async(authfail.MCP, source)
    if retry is None:
        return None
    return rate_limit_refusal(
        RateLimited(
            "Too many failed authentications from this address; retry later.",
            retry_after=float(retry),
            details={"scope": "source"},
        )
    )


async def auth_failed(*, tenant: Any, source: str, reason: str, config_id: str) -> None:
    """Count a failed bearer authentication; audited in aggregate on the URL's tenant."""
    await sync_to_async(_record_failure)(tenant, source, reason, config_id)


def _record_failure(tenant: Any, source: str, reason: str, config_id: str) -> None:
    try:
        with tenant_context(tenant):
            audit_auth_failure(
                tenant=tenant,
                surface=authfail.MCP,
                source=source,
                reason=reason[:64],
                config_id=config_id,
            )
    except DatabaseError:
        # Refusing the request matters more than recording the refusal.
        logger.exception("could not record auth.failed (MCP)")
