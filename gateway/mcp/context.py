"""What a request is: the protocol versions, who is calling (``Principal``) and the request's
context (``RequestContext``), plus the scoped tool lookups every method shares.

Its own module so that the method table (``dispatcher``) and the ``tools/call`` path
(``tools_call``) both build on it without importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context

from .jsonrpc import RequestId

MODERN_VERSIONS = ("2026-07-28",)
HANDSHAKE_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
LATEST_HANDSHAKE_VERSION = HANDSHAKE_VERSIONS[0]
SUPPORTED_VERSIONS = (*MODERN_VERSIONS, *HANDSHAKE_VERSIONS)

SERVER_NAME = "vmcp"
SERVER_VERSION = "1.0.0"
SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo"
LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel"

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

Notify = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's config and end user, in the tenant of the URL."""

    tenant: Any  # tenants.models.Tenant
    config: Any  # configs.models.McpConfig (detached; read-only here)
    token_id: str
    identifier: str
    # gateway.warm.state.WarmState when the warm path authenticated the request: its fresh
    # limits and tool index replace the ORM reads below. None: the ORM path.
    warm: Any = None

    @property
    def config_id(self) -> str:
        return str(self.config.pk)

    @property
    def actor(self) -> str:
        return f"identifier:{self.identifier}"


@dataclass
class RequestContext:
    principal: Principal
    protocol_version: str
    modern: bool
    request_id: RequestId | None
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] = field(default_factory=dict)
    # Where notifications about this request go (progress, logs); None when the response is
    # plain JSON and nothing can be streamed.
    notify: Notify | None = None
    log_level: str | None = None
    session_id: str | None = None
    # 2025-11-25 only: sends one server-to-client request on this call's SSE stream and
    # returns the client's result (``relay.ask``); None when nothing can be asked.
    ask: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None


def exposed_tools(principal: Principal) -> list[Any]:
    from configs.tools import config_exposed_tools

    with tenant_context(principal.tenant):
        return list(config_exposed_tools(principal.config))


def lookup_tool(principal: Principal, name: str) -> Any | None:
    from configs.tools import config_tool_lookup

    with tenant_context(principal.tenant):
        return config_tool_lookup(principal.config, name)


async def find_tools(principal: Principal) -> list[Any]:
    """``exposed_tools`` from the warm path's index, or through the ORM (sync thread)."""
    if principal.warm is not None:
        return principal.warm.index.tools
    return await sync_to_async(exposed_tools)(principal)


async def find_tool(principal: Principal, name: str) -> Any | None:
    """``lookup_tool`` from the warm path's index, or through the ORM (sync thread)."""
    if principal.warm is not None:
        indexed = principal.warm.index.by_name.get(name)
        return None if indexed is None else indexed.exposed
    return await sync_to_async(lookup_tool)(principal, name)
