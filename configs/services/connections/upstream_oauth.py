"""An OAuth-protected upstream MCP server connection: discovery and client registration.

Run when such a connection is created, or when its server URL or client settings change,
before anything is stored: a refused discovery (a private address, an issuer mismatch, a
metadata document about another resource) is a clear 400 and changes nothing. The result is
kept on the connection (``Connection.upstream_oauth``: bounded, no secrets); a client secret
issued by Dynamic Client Registration goes to the vault as ``registered_client_secret``.
The protocol work itself is ``connectors.mcp_oauth``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.utils import timezone

from configs.models import Connection
from configs.selectors import connection_client_metadata_url, connection_redirect_uri
from connectors import mcp_oauth
from vault.models import Secret
from vault.secrets import secret_delete, secret_put

REGISTERED_SECRET_FIELD = "registered_client_secret"
TOKEN_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class UpstreamOAuthSetup:
    stored: dict[str, Any]
    registered_secret: str | None = field(default=None, repr=False)


def upstream_oauth_prepare(
    *, settings: dict[str, Any], has_client_secret: bool
) -> UpstreamOAuthSetup:
    """Discover the server's authorization server and choose (or register) the client."""
    server_url = settings["server_url"]
    discovery = async_to_sync(mcp_oauth.discover)(server_url)
    registration = async_to_sync(mcp_oauth.register)(
        discovery,
        redirect_uri=connection_redirect_uri(),
        client_metadata_url=connection_client_metadata_url(),
        pre_registered_client_id=settings.get("client_id"),
        pre_registered_has_secret=has_client_secret,
        token_endpoint_auth_method=settings.get("token_endpoint_auth_method"),
    )
    stored = {
        "discovery": discovery.as_stored(),
        "registration": {**registration.as_stored(), "registered_at": timezone.now().isoformat()},
    }
    return UpstreamOAuthSetup(stored=stored, registered_secret=registration.client_secret)


def upstream_oauth_store(*, connection: Connection, setup: UpstreamOAuthSetup) -> None:
    """Keep the result on the (locked or new) connection; the DCR secret in the vault."""
    connection.upstream_oauth = setup.stored
    connection.save(update_fields=["upstream_oauth", "updated_at"])
    if setup.registered_secret:
        secret_put(
            owner_type=Secret.OwnerType.CONNECTION,
            owner_id=connection.pk,
            field=REGISTERED_SECRET_FIELD,
            value=setup.registered_secret,
        )
    else:
        secret_delete(
            owner_type=Secret.OwnerType.CONNECTION,
            owner_id=connection.pk,
            field=REGISTERED_SECRET_FIELD,
        )


def is_upstream_oauth(connector: str, auth_type: str) -> bool:
    return connector == "mcp" and auth_type == Connection.AuthType.OAUTH2
