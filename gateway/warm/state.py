"""Authorization state of a warm MCP request: one fresh statement, nothing cached that can go stale.

Per request, one schema-qualified statement reads the tenant (status, limits, arguments setting),
the session token (by hash), its config (per-user limit, description) and a fingerprint of the
config's mappings and their connections (``md5`` over ids and ``xmin``, so any UPDATE of those
rows, even a ``QuerySet.update`` that skips ``updated_at``, changes it). Revocations, expiries,
suspensions and config edits are therefore visible on the next request on every process, by
construction: there is no invalidation channel to lose.

Two things are cached in-process, both keyed so that a stale entry is unreachable:

* slug → (tenant id, schema name). The statement re-checks ``id`` and ``slug`` on the public
  row; a tenant re-created under the same slug (new id, new schema) finds no row, or a missing
  relation, and the mapping is refreshed and the statement retried once (then 404).
* the tool index (exposed name → connection, definition with overrides, compiled argument
  validator), keyed by (schema, config id, fingerprint). The connection's tools JSON is parsed
  once per version of the rows, not per call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from django.utils import timezone
from django_tenants.utils import get_public_schema_name
from psycopg import sql

from configs.models import Connection, McpConfig, SessionToken, ToolMapping
from configs.selectors import connection_effective_urls
from configs.services.tokens import LAST_USED_RESOLUTION
from configs.tools import ExposedTool, exposed_tools_of
from gateway.execution.preparation import tool_limit_of
from gateway.execution.validation import compiled_validator
from tenants.models import Tenant
from vmcp_platform import tokens
from vmcp_platform.errors import AuthenticationFailed, NotFound

from . import pool

logger = logging.getLogger(__name__)

MAX_CACHED_INDEXES = 1024
MAX_CACHED_SLUGS = 10_000


@dataclass(frozen=True)
class IndexedTool:
    exposed: ExposedTool
    validator: Any  # compiled validator, or None (no schema / an invalid one)
    urls: dict[str, Any]
    tool_limit: int | None = None  # the mapping's per-user limit for this tool, if any


@dataclass(frozen=True)
class ToolIndex:
    tools: list[ExposedTool]  # tools/list order
    by_name: dict[str, IndexedTool]


@dataclass(frozen=True)
class WarmState:
    index: ToolIndex
    tenant_limit: int
    user_limit: int
    config_limit: int | None
    store_arguments: bool
    touch: bool = False  # last_used_at is older than LAST_USED_RESOLUTION
    end_user_limit: int | None = None  # the end user's limit across the tenant


@dataclass(frozen=True)
class WarmAuth:
    tenant: Tenant
    config: McpConfig
    token_id: str
    identifier: str
    state: WarmState


_slugs: dict[str, tuple[int, str]] = {}
_indexes: dict[tuple[str, str, str], ToolIndex] = {}


def _t(model: Any) -> sql.Identifier:
    return sql.Identifier(model._meta.db_table)


def _fingerprint(schema: str) -> sql.Composable:
    s = sql.Identifier(schema)
    return sql.SQL(
        "(SELECT md5(coalesce(string_agg(m.id::text || ':' || m.xmin::text || ':' || n.id::text"
        " || ':' || n.xmin::text, ',' ORDER BY m.position, m.id), '') || ':' || {c_xmin})"
        " FROM {s}.{mapping} m JOIN {s}.{connection} n ON n.id = m.connection_id"
        " WHERE m.config_id = c.id)"
    ).format(
        s=s,
        mapping=_t(ToolMapping),
        connection=_t(Connection),
        c_xmin=sql.SQL("c.xmin::text"),
    )


def _auth_statement(schema: str) -> sql.Composable:
    s = sql.Identifier(schema)
    return sql.SQL(
        "SELECT t.status, t.name, t.rate_limit_per_minute, t.user_rate_limit_per_minute,"
        " t.store_tool_arguments,"
        " k.id, k.config_id, k.identifier, k.revoked_at, k.expires_at, k.last_used_at,"
        " c.rate_limit_per_minute, c.description, c.name, {fp}, t.end_user_rate_limit_per_minute"
        " FROM {public}.{tenant} t"
        " LEFT JOIN {s}.{token} k ON k.token_hash = %(hash)s"
        " LEFT JOIN {s}.{config} c ON c.id = k.config_id"
        " WHERE t.id = %(tid)s AND t.slug = %(slug)s"
    ).format(
        fp=_fingerprint(schema),
        public=sql.Identifier(get_public_schema_name()),
        tenant=_t(Tenant),
        s=s,
        token=_t(SessionToken),
        config=_t(McpConfig),
    )


def _index_statement(schema: str) -> sql.Composable:
    s = sql.Identifier(schema)
    return sql.SQL(
        "SELECT {fp}, m.id, m.tools, m.overrides, n.id, n.name, n.connector, n.auth_type,"
        " n.settings, n.tools, m.tool_rate_limits"
        " FROM {s}.{config} c JOIN {s}.{mapping} m ON m.config_id = c.id"
        " JOIN {s}.{connection} n ON n.id = m.connection_id"
        " WHERE c.id = %(config)s ORDER BY m.position, m.id"
    ).format(
        fp=_fingerprint(schema),
        s=s,
        config=_t(McpConfig),
        mapping=_t(ToolMapping),
        connection=_t(Connection),
    )


async def _tenant_ref(slug: str, *, refresh: bool = False) -> tuple[int, str] | None:
    if not refresh and slug in _slugs:
        return _slugs[slug]
    row = await pool.fetch_one(
        sql.SQL("SELECT id, schema_name FROM {public}.{tenant} WHERE slug = %s").format(
            public=sql.Identifier(get_public_schema_name()), tenant=_t(Tenant)
        ),
        [slug],
    )
    if row is None:
        _slugs.pop(slug, None)
        return None
    if len(_slugs) >= MAX_CACHED_SLUGS:
        _slugs.clear()
    _slugs[slug] = (row[0], row[1])
    return _slugs[slug]


class NotWarm(Exception):
    """The warm path cannot decide this request (e.g. a tenant schema missing a table it reads):
    the caller takes the ORM path, which answers (or fails) exactly as it always did."""


async def _auth_row(slug: str, token_hash: str) -> tuple[tuple[int, str], tuple[Any, ...]] | None:
    previous = None
    for attempt in (0, 1):
        ref = await _tenant_ref(slug, refresh=attempt == 1)
        if ref is None:
            return None
        try:
            row = await pool.fetch_one(
                _auth_statement(ref[1]), {"hash": token_hash, "tid": ref[0], "slug": slug}
            )
        except psycopg.errors.UndefinedTable:
            if ref == previous:
                raise NotWarm("a table of the tenant's schema is missing") from None
            previous, row = ref, None  # the cached schema may be gone (tenant re-created)
        if row is not None:
            return ref, row
    return None


def _invalid() -> AuthenticationFailed:
    return AuthenticationFailed(
        "The session token is not valid for this server.", details={"reason": "invalid_token"}
    )


async def warm_authenticate(*, slug: str, config_id: str, secret: str) -> WarmAuth:
    """``authenticate`` + ``session_token_authenticate`` in one statement, same refusals.

    ``NotFound`` for an unknown or suspended tenant (the middleware's 404), then the token's
    ``AuthenticationFailed`` reasons in the same order as the ORM path. The secret must be
    well-formed already (the caller takes the ORM path otherwise, which refuses it with no query).
    """
    assert tokens.is_well_formed(secret, tokens.SESSION_TOKEN_PREFIX)
    found = await _auth_row(slug, tokens.hash_token(secret))
    if found is None:
        raise NotFound("No such tenant.")
    (tenant_id, schema), row = found
    (status, tenant_name, tenant_limit, user_limit, store_arguments) = row[0:5]
    (token_id, token_config, identifier, revoked_at, expires_at, last_used_at) = row[5:11]
    (config_limit, description, config_name, fingerprint, end_user_limit) = row[11:16]
    if status != Tenant.Status.ACTIVE:
        raise NotFound("No such tenant.")
    if token_id is None or str(token_config) != str(config_id):
        raise _invalid()
    now = timezone.now()
    if revoked_at is not None:
        raise AuthenticationFailed(
            "The session token has been revoked.", details={"reason": "revoked_token"}
        )
    if expires_at <= now:
        raise AuthenticationFailed(
            "The session token has expired.", details={"reason": "expired_token"}
        )
    tenant = Tenant(
        id=tenant_id,
        schema_name=schema,
        slug=slug,
        name=tenant_name,
        status=status,
        rate_limit_per_minute=tenant_limit,
        user_rate_limit_per_minute=user_limit,
        store_tool_arguments=store_arguments,
    )
    config = McpConfig(
        id=token_config,
        name=config_name,
        description=description,
        rate_limit_per_minute=config_limit,
    )
    index = await tool_index(schema, str(token_config), fingerprint)
    state = WarmState(
        index=index,
        tenant_limit=tenant_limit,
        user_limit=user_limit,
        config_limit=config_limit,
        store_arguments=store_arguments,
        touch=_stale(last_used_at, now),
        end_user_limit=end_user_limit,
    )
    return WarmAuth(
        tenant=tenant, config=config, token_id=str(token_id), identifier=identifier, state=state
    )


def _stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


async def tool_index(schema: str, config_id: str, fingerprint: str) -> ToolIndex:
    key = (schema, config_id, fingerprint)
    index = _indexes.get(key)
    if index is not None:
        return index
    try:
        rows = await pool.fetch_all(_index_statement(schema), {"config": config_id})
    except psycopg.errors.UndefinedTable:
        raise NotWarm("a table of the tenant's schema is missing") from None
    # Keyed by what was read (one statement, one snapshot): an edit between the two statements
    # yields the newer index under the newer fingerprint; the next request matches it.
    read_fingerprint = rows[0][0] if rows else fingerprint
    index = _build(schema, config_id, rows)
    if len(_indexes) >= MAX_CACHED_INDEXES:
        _indexes.clear()
    _indexes[(schema, config_id, read_fingerprint)] = index
    return index


def _build(schema: str, config_id: str, rows: list[tuple[Any, ...]]) -> ToolIndex:
    connections: dict[int, Connection] = {}
    mappings = []
    tool_limits: dict[int, Any] = {}  # connection id → its mapping's tool_rate_limits
    for row in rows:
        m_id, m_tools, m_overrides, n_id, name, connector, auth_type, settings, n_tools = row[1:10]
        tool_limits[n_id] = row[10]
        connection = connections.get(n_id)
        if connection is None:
            connection = Connection(
                id=n_id,
                name=name,
                connector=connector,
                auth_type=auth_type,
                settings=settings or {},
                tools=n_tools or [],
            )
            connections[n_id] = connection
        mappings.append(
            ToolMapping(
                id=m_id,
                config_id=config_id,
                connection=connection,
                tools=m_tools or [],
                overrides=m_overrides or {},
            )
        )
    exposed = exposed_tools_of(mappings, config_id=config_id)
    urls = {pk: connection_effective_urls(c) for pk, c in connections.items()}
    by_name = {
        tool.exposed_name: IndexedTool(
            exposed=tool,
            validator=compiled_validator(
                f"{schema}:{tool.connection.pk}:{tool.tool_name}",
                tool.definition.get("inputSchema"),
            ),
            urls=urls[tool.connection.pk],
            tool_limit=tool_limit_of(tool_limits.get(tool.connection.pk), tool.tool_name),
        )
        for tool in exposed
    }
    return ToolIndex(tools=exposed, by_name=by_name)


def clear_caches() -> None:
    _slugs.clear()
    _indexes.clear()
