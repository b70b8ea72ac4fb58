"""Writes for connections: create, update, delete, and tool sync for upstream MCP servers.

Settings are validated against the connector; secrets (the OAuth client secret, an upstream's
shared header) go to the vault and nowhere else — not into ``settings``, audit rows or errors.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.utils import timezone

from audit.models import EventType, Outcome
from audit.services import audit_record
from gateway.connectors import get_connector
from vault.models import OAuthState, Secret
from vault.secrets import secret_delete, secret_put, secrets_delete_for_owners
from vmcp_platform.errors import ApplicationError, Conflict, ProviderError, ValidationFailed

from ..models import NAME_VALIDATOR, Connection, McpConfig
from ..selectors import (
    MCP_CONNECTOR,
    connection_secret_keys,
    connection_tools,
    connection_upstream_headers,
)
from ..signals import config_changed
from ..ssrf import UnsafeUrl, check_url

A = Connection.AuthType
MCP_AUTH_TYPES = frozenset({A.NONE, A.SHARED_HEADER, A.API_KEY})
OAUTH_SETTINGS = frozenset({"client_id", "scopes", "authorize_url", "token_url", "revoke_url"})
MCP_SETTINGS = frozenset({"server_url", "header_name"})
PROVIDER_URL_KEYS = ("api_base_url", "authorize_url", "token_url", "revoke_url")
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers the transport itself owns; letting a tenant set them would break or smuggle requests.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
        "cookie",
    }
)
MAX_SECRET_CHARS = 8192


def _invalid(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details=details)


def allowed_auth_types(connector: str) -> frozenset[str]:
    """Auth types a connection of ``connector`` may use (empty: unknown connector)."""
    if connector == MCP_CONNECTOR:
        return MCP_AUTH_TYPES
    spec = get_connector(connector)
    if spec is None:
        return frozenset()
    if spec.auth_kind == "oauth2":
        # An OAuth provider can also take a personal token (a GitHub PAT, a Slack user token).
        return frozenset({A.OAUTH2, A.API_KEY})
    return frozenset({spec.auth_kind})


def _validate_kind(connector: str, auth_type: str) -> None:
    if connector != MCP_CONNECTOR and get_connector(connector) is None:
        raise _invalid(f"Unknown connector {connector!r}.", connector=connector)
    allowed = allowed_auth_types(connector)
    if auth_type not in allowed:
        raise _invalid(
            f"The {connector} connector supports auth_type {', '.join(sorted(allowed))}.",
            auth_type=auth_type,
        )


def _validate_settings(connector: str, auth_type: str, settings: Any) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise _invalid("settings must be an object.")
    if connector == MCP_CONNECTOR:
        allowed = MCP_SETTINGS
    else:
        allowed = {"api_base_url"} | (OAUTH_SETTINGS if auth_type == A.OAUTH2 else set())
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise _invalid(
            f"Unknown settings for a {connector} connection with auth_type {auth_type}: "
            f"{', '.join(unknown)}. Allowed: {', '.join(sorted(allowed))}.",
            unknown=unknown,
        )
    clean: dict[str, Any] = {}
    for key in PROVIDER_URL_KEYS:
        if key in settings:
            # Provider endpoints may be unresolvable from here; form and literal IPs are checked
            # now, and the HTTP client re-checks what they resolve to when it connects.
            check_url(settings[key], field=key, resolve=False)
            clean[key] = settings[key]
    if auth_type == A.OAUTH2:
        client_id = settings.get("client_id")
        if not isinstance(client_id, str) or not client_id.strip() or len(client_id) > 500:
            raise _invalid("An oauth2 connection needs settings.client_id.", field="client_id")
        clean["client_id"] = client_id.strip()
        if "scopes" in settings:
            clean["scopes"] = _validate_scopes(settings["scopes"])
    if connector == MCP_CONNECTOR:
        if "server_url" not in settings:
            raise _invalid("An mcp connection needs settings.server_url.", field="server_url")
        check_url(settings["server_url"], field="server_url", resolve=True)
        clean["server_url"] = settings["server_url"]
        if "header_name" in settings:
            clean["header_name"] = _validate_header_name(settings["header_name"])
    return clean


def _validate_scopes(scopes: Any) -> list[str]:
    if not isinstance(scopes, list) or len(scopes) > 100:
        raise _invalid("scopes must be a list of at most 100 strings.", field="scopes")
    for scope in scopes:
        if not isinstance(scope, str) or not scope or len(scope) > 300:
            raise _invalid("Each scope must be a non-empty string.", field="scopes")
        if any(ch.isspace() for ch in scope):
            raise _invalid(f"A scope must not contain whitespace: {scope!r}.", field="scopes")
    return list(dict.fromkeys(scopes))


def _validate_header_name(name: Any) -> str:
    if not isinstance(name, str) or not HEADER_NAME_RE.match(name):
        raise _invalid("header_name must be a valid HTTP header name.", field="header_name")
    if name.lower() in RESERVED_HEADERS:
        raise _invalid(f"header_name {name!r} is reserved.", field="header_name")
    return name


def _validate_secrets(connector: str, auth_type: str, secrets: Any) -> dict[str, str]:
    if secrets is None:
        return {}
    if not isinstance(secrets, dict):
        raise _invalid("secrets must be an object of strings.")
    allowed = connection_secret_keys(connector, auth_type)
    unknown = sorted(set(secrets) - set(allowed))
    if unknown:
        raise _invalid(
            f"Unknown secrets for this connection: {', '.join(unknown)}."
            + (f" Allowed: {', '.join(allowed)}." if allowed else " It takes no secrets."),
            unknown=unknown,
        )
    for key, value in secrets.items():
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_SECRET_CHARS:
            raise _invalid(f"secrets.{key} must be a non-empty string.", field=key)
        if key == "shared_header" and ("\r" in value or "\n" in value):
            raise _invalid("secrets.shared_header must be a single line.", field=key)
    return dict(secrets)


def _require_secrets(connection: Connection, present: set[str]) -> None:
    missing = [k for k in connection_secret_keys(connection.connector, connection.auth_type)]
    missing = [k for k in missing if k not in present]
    if missing:
        raise _invalid(
            f"This connection needs secrets.{missing[0]}.", field=missing[0], missing=missing
        )


def _put_secrets(connection: Connection, secrets: dict[str, str]) -> None:
    for field, value in secrets.items():
        secret_put(
            owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field=field, value=value
        )


def _announce_configs(connection: Connection) -> None:
    """After commit, tell live MCP sessions of configs using this connection to re-list."""
    schema = db_connection.schema_name
    for config_id in McpConfig.objects.filter(mappings__connection=connection).values_list(
        "pk", flat=True
    ):
        transaction.on_commit(
            partial(
                config_changed.send,
                sender=McpConfig,
                config_id=str(config_id),
                tenant_schema=schema,
            )
        )


def connection_create(
    *,
    name: str,
    connector: str,
    auth_type: str,
    settings: dict[str, Any] | None,
    secrets: dict[str, str] | None,
    actor: str,
) -> Connection:
    """Create a connection; its secrets go to the vault in the same transaction."""
    if not isinstance(name, str) or not NAME_VALIDATOR.regex.match(name):
        raise _invalid(str(NAME_VALIDATOR.message), field="name")
    _validate_kind(connector, auth_type)
    clean = _validate_settings(connector, auth_type, settings or {})
    clean_secrets = _validate_secrets(connector, auth_type, secrets)
    try:
        with transaction.atomic():
            connection = Connection.objects.create(
                name=name, connector=connector, auth_type=auth_type, settings=clean
            )
            _require_secrets(connection, set(clean_secrets))
            _put_secrets(connection, clean_secrets)
            audit_record(
                event_type=EventType.CONNECTION_CREATED,
                actor=actor,
                connection_name=name,
                extra={
                    "connector": connector,
                    "auth_type": auth_type,
                    "settings_keys": sorted(clean),
                    "vault_fields": sorted(clean_secrets),
                },
            )
    except IntegrityError:
        raise Conflict(
            f"A connection named {name!r} already exists.", details={"name": name}
        ) from None
    return connection


def connection_update(
    *,
    connection: Connection,
    settings: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    actor: str,
) -> Connection:
    """Change settings (merged; a ``null`` value removes a key) and/or replace secrets.

    The name, connector and auth type are fixed: agents and configs refer to them.
    """
    if settings is not None and not isinstance(settings, dict):
        raise _invalid("settings must be an object.")
    clean_secrets = _validate_secrets(connection.connector, connection.auth_type, secrets)
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        before = dict(connection.settings or {})
        changed_keys: list[str] = []
        if settings:
            merged = {**before, **settings}
            merged = {k: v for k, v in merged.items() if v is not None}
            clean = _validate_settings(connection.connector, connection.auth_type, merged)
            changed_keys = sorted(
                k for k in set(before) | set(clean) if before.get(k) != clean.get(k)
            )
            connection.settings = clean
            connection.save(update_fields=["settings", "updated_at"])
        _put_secrets(connection, clean_secrets)
        if clean_secrets and not changed_keys:
            connection.save(update_fields=["updated_at"])
        audit_record(
            event_type=EventType.CONNECTION_CHANGED,
            actor=actor,
            connection_name=connection.name,
            extra={"settings_changed": changed_keys, "vault_fields": sorted(clean_secrets)},
        )
    return connection


def connection_delete(*, connection: Connection, actor: str) -> None:
    """Delete a connection with its accounts; their secrets are destroyed with them."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        account_ids = list(connection.accounts.values_list("pk", flat=True))
        state_ids = list(
            OAuthState.objects.filter(account_id__in=account_ids).values_list("pk", flat=True)
        )
        destroyed = secret_delete(owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk)
        destroyed += secrets_delete_for_owners(
            owner_type=Secret.OwnerType.ACCOUNT, owner_ids=account_ids
        )
        destroyed += secrets_delete_for_owners(
            owner_type=Secret.OwnerType.OAUTH_STATE, owner_ids=state_ids
        )
        _announce_configs(connection)
        name = connection.name
        connection.delete()
        audit_record(
            event_type=EventType.CONNECTION_DELETED,
            actor=actor,
            connection_name=name,
            extra={"accounts_deleted": len(account_ids), "vault_rows_destroyed": destroyed},
        )


def _diff_tools(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, list[str]]:
    before = {t.get("name"): t for t in old}
    after = {t.get("name"): t for t in new}
    return {
        "added": sorted(n for n in after if n not in before),
        "removed": sorted(n for n in before if n not in after),
        "changed": sorted(n for n in after if n in before and after[n] != before[n]),
    }


def connection_sync_tools(*, connection: Connection, actor: str) -> list[dict[str, Any]]:
    """Discover an upstream MCP server's tools and store them; built-ins return their catalog.

    A failed sync keeps the last good tool list and records a clear ``last_error``.
    """
    if connection.connector != MCP_CONNECTOR:
        return connection_tools(connection)
    from gateway.connectors import mcp_upstream

    headers = connection_upstream_headers(connection)
    server_url = (connection.settings or {}).get("server_url", "")
    try:
        check_url(server_url, field="server_url", resolve=True)
        # Sync ORM callers (REST views, Celery) reach the async client through its own loop.
        tools = async_to_sync(mcp_upstream.list_tools)(server_url=server_url, headers=headers)
        error: ApplicationError | None = None
    except (ProviderError, UnsafeUrl) as exc:
        tools, error = [], exc
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
            changes = _diff_tools(connection.tools or [], tools)
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
            connection.save(
                update_fields=[
                    "tools",
                    "tools_synced_at",
                    "tools_changes",
                    "last_error",
                    "updated_at",
                ]
            )
            if any(changes.values()):
                _announce_configs(connection)
            audit_record(
                event_type=EventType.CONNECTION_SYNCED,
                actor=actor,
                connection_name=connection.name,
                extra={"tools": len(tools), **connection.tools_changes},
            )
    if error is not None:
        raise ProviderError(
            f"Could not sync tools from {connection.name!r}: {error.message}",
            details={"connection": connection.name},
        )
    return tools
