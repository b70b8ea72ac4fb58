"""What the two ways of calling an upstream MCP server share: the one-shot session of
``mcp_upstream`` and the pooled sessions of ``mcp_pool``.

The memory of the era each server speaks, and the translation of what the SDK or the transport
raised into a ``ProviderError`` (the response-size guard is the egress package's). Both modules
import this one and it imports neither, so the two do not import each other in a circle.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx2
from mcp import Client
from mcp.shared.exceptions import MCPError

from vmcp_platform.egress.upstream import SizeGuard
from vmcp_platform.errors import ProviderError

# How long a server's negotiated era is trusted before it is probed again.
ERA_TTL_SECONDS = 300.0
MAX_REMEMBERED_SERVERS = 1024


# server_url -> (expires at, its DiscoverResult or None (handshake era), protocol version).
eras: dict[str, tuple[float, Any, str]] = {}


def known_era(server_url: str) -> dict[str, Any]:
    """``Client`` arguments that skip the era probe when this server's era is known."""
    known = eras.get(server_url)
    if known is None or known[0] < time.monotonic():
        return {}
    discover = known[1]
    if discover is None:
        return {"mode": "legacy"}
    return {"mode": known[2], "prior_discover": discover}


def remember_era(server_url: str, client: Client) -> None:
    session = client.session
    discover = getattr(session, "discover_result", None)
    if len(eras) >= MAX_REMEMBERED_SERVERS:
        eras.clear()
    eras[server_url] = (
        time.monotonic() + ERA_TTL_SECONDS,
        discover,
        session.protocol_version,
    )


def _leaf_exceptions(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaf_exceptions(inner)]
    return [exc]


_CHALLENGE_FIELD = re.compile(r'(error|scope|resource_metadata)=(?:"([^"]*)"|([^\s,]+))')


def challenge_of(response: Any) -> dict[str, Any]:
    """The Bearer challenge of a refused HTTP response (httpx2's or egress.http1's)."""
    # Lower case: httpx2 headers ignore case, egress.http1 keeps names lower-cased.
    return challenge_details(response.headers.get("www-authenticate", ""))


def challenge_details(header: str) -> dict[str, Any]:
    """An OAuth-protected upstream's Bearer challenge (RFC 6750 §3): the ``error`` and the
    ``scope`` it asks for, bounded; ``insufficient_scope`` is the step-up signal."""
    header = header[:4000]
    if not header.lower().startswith("bearer"):
        return {}
    found: dict[str, str] = {}
    for name, quoted, bare in _CHALLENGE_FIELD.findall(header):
        found.setdefault(name, (quoted or bare)[:1000])
    details: dict[str, Any] = {}
    if found.get("error"):
        details["oauth_error"] = found["error"][:64]
    scopes = [s for s in found.get("scope", "").split() if s and len(s) <= 300][:100]
    if scopes:
        details["oauth_scopes"] = scopes
    if found.get("resource_metadata", "").startswith(("https://", "http://")):
        details["oauth_resource_metadata"] = found["resource_metadata"][:1000]
    return details


def provider_error(exc: BaseException, *, guard: SizeGuard, timeout: float) -> ProviderError:
    """Translate what the SDK or the transport raised; messages never carry headers."""
    if getattr(guard, "compressed", False):
        return ProviderError("the upstream MCP server sent a compressed response; refused")
    if guard.exceeded:
        return ProviderError(f"the upstream MCP server's response exceeded {guard.limit} bytes")
    leaves = _leaf_exceptions(exc)
    status = getattr(guard, "auth_status", None)
    if status in (401, 403) and any(isinstance(leaf, MCPError) for leaf in leaves):
        # The SDK reported the HTTP refusal as a bare JSON-RPC error; the guard saw the status.
        hint = "rejected the credential" if status == 401 else "refused access"
        return ProviderError(
            f"the upstream MCP server {hint}",
            provider_status=status,
            details=challenge_details(getattr(guard, "challenge", "")),
        )
    for leaf in leaves:
        if isinstance(leaf, TimeoutError | httpx2.TimeoutException):
            return ProviderError(f"the upstream MCP server did not answer within {timeout:g}s")
    for leaf in leaves:
        if isinstance(leaf, httpx2.HTTPStatusError):
            status = leaf.response.status_code
            hint = {401: "rejected the credential", 403: "refused access"}.get(
                status, f"answered HTTP {status}"
            )
            return ProviderError(
                f"the upstream MCP server {hint}",
                provider_status=status,
                details=challenge_of(leaf.response) if status in (401, 403) else {},
            )
        if isinstance(leaf, MCPError):
            # The JSON-RPC code/data travel along so a protocol-level refusal the agent's client
            # must see as such (e.g. -32021 missing client capability) can be relayed unchanged.
            return ProviderError(
                f"the upstream MCP server returned an error: {leaf.error.message}"[:500],
                details={
                    "jsonrpc_code": leaf.error.code,
                    "jsonrpc_message": str(leaf.error.message)[:500],
                    "jsonrpc_data": leaf.error.data,
                },
            )
        if isinstance(leaf, httpx2.ConnectError):
            return ProviderError(f"could not reach the upstream MCP server: {leaf}"[:500])
        if isinstance(leaf, httpx2.HTTPError):
            return ProviderError(
                f"the upstream MCP server connection failed: {type(leaf).__name__}"
            )
    return ProviderError(f"the upstream MCP server call failed: {type(leaves[0]).__name__}")
