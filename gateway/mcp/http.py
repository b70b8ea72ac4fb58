"""HTTP-level checks of the MCP endpoint: Host, Origin, Accept, bearer authentication."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django.db import connection as db_connection
from django.http.request import split_domain_port, validate_host
from django_tenants.utils import tenant_context

from vmcp_platform.errors import ServiceUnavailable

from .dispatcher import Principal

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}


class Headers:
    """Case-insensitive view of ASGI headers that also keeps the raw lines (for duplicates)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]
        self.map: dict[str, str] = {}
        for key, value in self.raw:
            self.map.setdefault(key, value)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.map.get(name.lower(), default)


def host_is_allowed(host: str | None) -> bool:
    if not host:
        return False
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def _is_loopback(hostname: str) -> bool:
    if hostname in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_is_allowed(origin: str | None, host: str | None) -> bool:
    """No Origin (a non-browser agent) is fine; a browser's is listed or same-origin loopback."""
    if origin is None:
        return True
    allowed = {o.rstrip("/").lower() for o in settings.VMCP_ALLOWED_ORIGINS}
    if origin.rstrip("/").lower() in allowed:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.hostname or not host:
        return False
    # A page served by this very loopback server (the MCP Inspector, a local dev tool).
    return parts.netloc.lower() == host.lower() and _is_loopback(parts.hostname)


def accepts(headers: Headers) -> tuple[bool, bool]:
    """(accepts JSON, accepts SSE) per the Accept header, with wildcards (RFC 9110 §12.5.1)."""
    value = headers.get("accept")
    if not value:
        return True, True  # no Accept header means anything is acceptable
    types = {part.split(";")[0].strip().lower() for part in value.split(",")}
    anything = "*/*" in types
    return (
        anything or bool(types & {"application/json", "application/*"}),
        anything or bool(types & {"text/event-stream", "text/*"}),
    )


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def resource_metadata_url(tenant_slug: str, config_id: str) -> str:
    return (
        f"{settings.PUBLIC_BASE_URL}/.well-known/oauth-protected-resource"
        f"/t/{tenant_slug}/mcp/{config_id}"
    )


def oauth_scope_challenge(tenant: Any) -> str:
    """Sync: ``, scope="…"`` for a 401 when the tenant signs users in (MCP authorization: the
    challenge SHOULD name the scope), else nothing. Only the refusal paths pay this query."""
    from gateway.oauth.policy import SCOPE, oauth_settings_get

    if not db_connection.in_atomic_block:
        close_old_connections()
    try:
        with tenant_context(tenant):
            signs_in = oauth_settings_get().has_identity_source
    except (DatabaseError, InterfaceError):
        return ""  # the 401 stands without the hint
    return f', scope="{SCOPE}"' if signs_in else ""


def authenticate(tenant: Any, config_id: str, secret: str) -> Principal:
    """Sync: the token's principal in this tenant (AuthenticationFailed otherwise)."""
    from configs.services.tokens import session_token_authenticate

    if not db_connection.in_atomic_block:
        close_old_connections()  # see McpConsumer.dispatch: Channels' own call is skipped
    try:
        with tenant_context(tenant):
            token = session_token_authenticate(config_id=config_id, secret=secret)
            config = token.config
            return Principal(
                tenant=tenant, config=config, token_id=str(token.pk), identifier=token.identifier
            )
    except (DatabaseError, InterfaceError) as exc:
        raise ServiceUnavailable("The database is unavailable; try again shortly.") from exc
