"""What a tool call needs before it runs, read through the ORM (sync, one tenant's schema):
the connection, the tool's definition and the limits (``prepare``, one statement on the usual
path), and the end user's credential (``credential_resolve``). ``tool_execute`` (``core``) runs
these on the database thread; the warm MCP path hands in its own ``Prepared`` instead.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import connection as db_connection
from django_tenants.utils import get_public_schema_name, tenant_context

from configs.models import Connection, McpConfig, ToolMapping
from connectors.openapi import OPENAPI_CONNECTOR
from tenants.models import Tenant
from vmcp_platform.errors import Conflict

from .tools_cache import tools_for

MCP_CONNECTOR = "mcp"


@dataclass(frozen=True)
class Prepared:
    """What a call needs before it runs: read by ``prepare`` (ORM) or handed in by the warm MCP
    path (``gateway.warm.state``, read fresh by its one statement and its tool index)."""

    connection: Connection
    definition: dict[str, Any] | None
    urls: dict[str, Any]
    tenant_limit: int
    user_limit: int
    config_limit: int | None
    store_arguments: bool
    # The end user's limit across the tenant, and the mapping's limit for this tool (if any).
    end_user_limit: int | None = None
    tool_limit: int | None = None


@dataclass(frozen=True)
class Credential:
    # repr=False: a dataclass repr must never print a credential (tracebacks, debuggers).
    value: str | None = field(repr=False)
    upstream_headers: dict[str, str] = field(repr=False)
    account_id: int | None


# ------------------------------------------------------------------ ORM work (sync, per tenant)


def _prepare_sql() -> str:
    """One round trip for what ``prepare`` needs: the connection row, the tenant's limits and
    arguments setting (public schema), and the config's per-user limit."""
    global _PREPARE_SQL
    if _PREPARE_SQL is None:
        q = db_connection.ops.quote_name
        public = q(get_public_schema_name())
        # Every column but ``tools`` (large; parsed once per version by ``tools_cache``), and
        # that version.
        columns = ", ".join(
            f"c.{q(f.column)}" for f in Connection._meta.concrete_fields if f.name != "tools"
        )
        _PREPARE_SQL = (
            f"SELECT {columns}, c.xmin::text AS prep_xmin,"  # noqa: S608
            f" pg_column_size(c.tools) AS prep_tools_size,"
            f" t.rate_limit_per_minute AS prep_tenant_limit,"
            f" t.user_rate_limit_per_minute AS prep_user_limit,"
            f" t.store_tool_arguments AS prep_store_arguments,"
            f" t.end_user_rate_limit_per_minute AS prep_end_user_limit,"
            f" (SELECT m.rate_limit_per_minute FROM {q(McpConfig._meta.db_table)} m"
            f" WHERE m.id = %s) AS prep_config_limit,"
            f" (SELECT p.tool_rate_limits FROM {q(ToolMapping._meta.db_table)} p"
            f" WHERE p.config_id = %s AND p.connection_id = c.id) AS prep_tool_limits"
            f" FROM {q(Connection._meta.db_table)} c, {public}.{q(Tenant._meta.db_table)} t"
            f" WHERE c.name = %s AND t.id = %s"
        )
    return _PREPARE_SQL


_PREPARE_SQL: str | None = None


def _prepare_fast(
    tenant: Tenant, connection_name: str, tool_name: str, config_id: Any
) -> Prepared | None:
    """``prepare`` in one query; None when the slow path must decide (errors, odd input)."""
    from configs.selectors import connection_effective_urls, connection_tool

    try:
        config_uuid = None if config_id is None else uuid.UUID(str(config_id))
    except ValueError:
        return None
    with tenant_context(tenant):
        rows = list(
            Connection.objects.raw(
                _prepare_sql(), [config_uuid, config_uuid, connection_name, tenant.pk]
            )
        )
        if not rows:
            return None
        connection = rows[0]
        version = (connection.prep_xmin, connection.updated_at, connection.prep_tools_size)
        # Assigned, so the deferred column is never loaded from this row.
        connection.tools = tools_for(tenant.schema_name, connection.pk, version)
        definition = connection_tool(connection, tool_name)
        urls = connection_effective_urls(connection) if definition is not None else {}
    return Prepared(
        connection=connection,
        definition=definition,
        urls=urls,
        tenant_limit=connection.prep_tenant_limit,
        user_limit=connection.prep_user_limit,
        config_limit=connection.prep_config_limit if config_id is not None else None,
        store_arguments=connection.prep_store_arguments,
        end_user_limit=connection.prep_end_user_limit,
        tool_limit=tool_limit_of(connection.prep_tool_limits, tool_name),
    )


def tool_limit_of(tool_rate_limits: Any, tool_name: str) -> int | None:
    """The mapping's per-minute limit for this tool (by its original name), if it sets one."""
    if isinstance(tool_rate_limits, str):
        # A raw query's jsonb column: Django's psycopg setup hands it over as text.
        try:
            tool_rate_limits = json.loads(tool_rate_limits)
        except ValueError:
            return None
    if not isinstance(tool_rate_limits, dict):
        return None
    value = tool_rate_limits.get(tool_name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def prepare(tenant: Tenant, connection_name: str, tool_name: str, config_id: Any) -> Prepared:
    from configs.selectors import connection_effective_urls, connection_get, connection_tools

    prepared = _prepare_fast(tenant, connection_name, tool_name, config_id)
    if prepared is not None:
        return prepared
    # Limits and the arguments setting are read fresh: an admin's change applies to the next call.
    settings_row = Tenant.objects.filter(pk=tenant.pk).values(
        "rate_limit_per_minute",
        "user_rate_limit_per_minute",
        "store_tool_arguments",
        "end_user_rate_limit_per_minute",
    )[0]
    with tenant_context(tenant):
        connection = connection_get(name=connection_name)
        definition = next(
            (d for d in connection_tools(connection) if d.get("name") == tool_name), None
        )
        urls = connection_effective_urls(connection) if definition is not None else {}
        config_limit = None
        tool_limit = None
        if config_id is not None:
            config_limit = (
                McpConfig.objects.filter(pk=config_id)
                .values_list("rate_limit_per_minute", flat=True)
                .first()
            )
            tool_limits = (
                ToolMapping.objects.filter(config_id=config_id, connection=connection)
                .values_list("tool_rate_limits", flat=True)
                .first()
            )
            tool_limit = tool_limit_of(tool_limits, tool_name)
    return Prepared(
        connection=connection,
        definition=definition,
        urls=urls,
        tenant_limit=settings_row["rate_limit_per_minute"],
        user_limit=settings_row["user_rate_limit_per_minute"],
        config_limit=config_limit,
        store_arguments=settings_row["store_tool_arguments"],
        end_user_limit=settings_row["end_user_rate_limit_per_minute"],
        tool_limit=tool_limit,
    )


def credential_resolve(
    tenant: Tenant, connection: Connection, identifier: str, session_token_id: Any = None
) -> Credential:
    from accounts.services.accounts import token_predates_revocation
    from accounts.services.credentials import account_credential_for_call
    from configs.selectors import connection_upstream_headers
    from vault.models import ConnectedAccount

    with tenant_context(tenant):
        account_id = None
        if connection.needs_user_credentials:
            account_id, status, token_is_older = (
                ConnectedAccount.objects.filter(connection=connection, identifier=identifier)
                .annotate(token_is_older=_token_predates(session_token_id))
                .values_list("id", "status", "token_is_older")
                .first()
            ) or (None, None, False)
            # Not ACTIVE: the account's own refusal below says what to do first (reconnect).
            if token_is_older and status == ConnectedAccount.Status.ACTIVE:
                raise token_predates_revocation(connection, identifier)
        value = account_credential_for_call(connection=connection, identifier=identifier)
        headers: dict[str, str] = {}
        if connection.connector == MCP_CONNECTOR:
            # The shared header from the vault, or this user's key — never the platform's own
            # session token: the upstream must not be able to replay it against us.
            headers = connection_upstream_headers(connection, credential=value)
        elif (
            connection.connector == OPENAPI_CONNECTOR
            and connection.auth_type == Connection.AuthType.SHARED_HEADER
        ):
            from configs.selectors import connection_shared_credential

            # One credential for the whole connection, from the vault.
            value = connection_shared_credential(connection)
        if connection.auth_type == Connection.AuthType.SHARED_HEADER and not (headers or value):
            raise Conflict(
                f"Connection '{connection.name}' has no shared credential set;"
                " an admin must set it.",
                code="connection_not_configured",
                details={"connection_name": connection.name},
            )
    return Credential(value=value, upstream_headers=headers, account_id=account_id)


def _token_predates(session_token_id: Any) -> Any:
    """Whether the calling session token was minted at or before the account's last revocation
    (such a token never uses the account again: ``accounts.services.accounts``)."""
    from django.db.models import Exists, OuterRef, Value

    from configs.models import SessionToken

    if session_token_id is None:  # REST execute_tool: the tenant's backend, no token
        return Value(False)
    return Exists(
        SessionToken.objects.filter(
            pk=session_token_id, created_at__lte=OuterRef("last_revoked_at")
        )
    )


def account_expire_after_401(
    tenant: Tenant, connection: Connection, identifier: str, actor: str
) -> None:
    from accounts.services.accounts import account_mark_expired
    from vault.models import ConnectedAccount

    with tenant_context(tenant):
        account = ConnectedAccount.objects.filter(
            connection=connection, identifier=identifier
        ).first()
        if account is not None:
            account_mark_expired(
                account=account,
                error="The provider rejected the credential during a tool call (HTTP 401).",
                actor=actor,
                code="provider_401",
            )


def account_step_up_link(
    tenant: Tenant, connection: Connection, identifier: str, scopes: tuple[str, ...]
) -> str:
    """A connect link asking for the upstream's challenged scopes on top of the connection's
    own (an OAuth upstream MCP server answered ``insufficient_scope``); the account stays
    ACTIVE meanwhile: its token still serves the tools it is enough for."""
    from accounts.services.links import connect_link_create
    from vault.models import ConnectedAccount

    with tenant_context(tenant):
        account = ConnectedAccount.objects.select_related("connection").get(
            connection=connection, identifier=identifier
        )
        created = connect_link_create(
            account=account, actor="system:step-up", scopes=[s[:300] for s in scopes[:100]]
        )
    return created.url
