"""Tool (and prompt/resource) discovery for upstream MCP server connections, audited either way."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from audit.models import EventType, Outcome
from audit.services import audit_record
from configs.models import Connection
from configs.selectors import MCP_CONNECTOR, connection_tools, connection_upstream_headers
from vmcp_platform.egress import UnsafeUrl, check_url
from vmcp_platform.errors import ApplicationError, ProviderError

from .changes import announce_configs, tools_diff
from .features import discover_features, features_counts, features_store


def connection_sync_tools(
    *, connection: Connection, actor: str, credential: str | None = None
) -> list[dict[str, Any]]:
    """Discover an upstream MCP server's tools and store them; built-ins return their catalog.

    A failed sync keeps the last good tool list and records a clear ``last_error``. An
    OAuth-protected upstream lists its tools to a signed-in user only: ``credential`` is an end
    user's access token, else the most recently connected ACTIVE account's is used.
    """
    if connection.connector != MCP_CONNECTOR:
        return connection_tools(connection)
    from connectors import mcp_upstream

    if credential is None and connection.auth_type == Connection.AuthType.OAUTH2:
        credential = _some_users_token(connection)
    headers = connection_upstream_headers(connection, credential=credential)
    server_url = (connection.settings or {}).get("server_url", "")
    try:
        check_url(server_url, field="server_url")
        # Sync ORM callers (REST views, Celery) reach the async client through its own loop.
        tools = async_to_sync(mcp_upstream.list_tools)(server_url=server_url, headers=headers)
        features = discover_features(server_url=server_url, headers=headers)
        error: ApplicationError | None = None
    except (ProviderError, UnsafeUrl) as exc:
        tools, features, error = [], {}, exc
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        if error is not None:
            connection.last_error = error.message[:1000]
            connection.save(update_fields=["last_error", "updated_at"])
            audit_record(
                event_type=EventType.CONNECTION_SYNCED,
                outcome=Outcome.ERROR,
                error_code=error.code,
                actor=actor,
                connection_name=connection.name,
                extra={"error": error.message[:500]},
            )
        else:
            changes = tools_diff(connection.tools or [], tools)
            connection.tools_changes = (
                changes
                if connection.tools_synced_at
                else {
                    "added": sorted(t["name"] for t in tools),
                    "removed": [],
                    "changed": [],
                }
            )
            connection.tools = tools
            connection.tools_synced_at = timezone.now()
            connection.last_error = ""
            feature_fields = features_store(connection, features)
            connection.save(
                update_fields=[
                    *feature_fields,
                    "tools",
                    "tools_synced_at",
                    "tools_changes",
                    "last_error",
                    "updated_at",
                ]
            )
            if any(changes.values()):
                announce_configs(connection)
            audit_record(
                event_type=EventType.CONNECTION_SYNCED,
                actor=actor,
                connection_name=connection.name,
                extra={
                    "tools": len(tools),
                    **features_counts(connection),
                    **connection.tools_changes,
                },
            )
    if error is not None:
        raise ProviderError(
            f"Could not sync tools from {connection.name!r}: {error.message}",
            details={"connection": connection.name},
        )
    return tools


def _some_users_token(connection: Connection) -> str | None:
    import json

    from vault.models import ConnectedAccount, Secret
    from vault.secrets import secret_get

    account = (
        ConnectedAccount.objects.filter(
            connection=connection, status=ConnectedAccount.Status.ACTIVE
        )
        .order_by("-connected_at")
        .first()
    )
    if account is None:
        return None
    raw = secret_get(owner_type=Secret.OwnerType.ACCOUNT, owner_id=account.pk, field="oauth_tokens")
    try:
        token = json.loads(raw or "{}").get("access_token")
    except (ValueError, AttributeError):
        return None
    return str(token) if token else None
