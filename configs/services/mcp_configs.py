"""Writes for virtual MCP servers (``McpConfig`` and its connection→tool mappings)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection as db_connection
from django.db import transaction

from audit.models import EventType
from audit.services import audit_record
from vmcp_platform.errors import Conflict, ValidationFailed

from ..models import NAME_VALIDATOR, Connection, McpConfig, ToolMapping
from ..selectors import connection_tools
from ..signals import config_changed

MAX_MAPPINGS = 25
MAX_DESCRIPTION = 2000
MAX_OVERRIDE_DESCRIPTION = 2000
MAX_RATE_LIMIT = 100_000
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
FIELD = "connection_tool_mappings"

_UNCHANGED: Any = object()


@dataclass(frozen=True)
class _Mapping:
    """One validated mapping, ready to be stored."""

    connection: Connection
    tools: list[str]
    overrides: dict[str, dict[str, str]]


def mcp_config_create(
    *,
    name: str,
    description: str = "",
    mappings: list[dict[str, Any]],
    rate_limit_per_minute: int | None = None,
    actor: str,
) -> McpConfig:
    """Create a virtual server with its mappings; audited, and announced after commit."""
    errors: dict[str, str] = {}
    if not isinstance(name, str):
        errors["name"] = "must be a string"
    else:
        try:
            NAME_VALIDATOR(name)
        except DjangoValidationError as exc:
            errors["name"] = str(exc.messages[0])
    _check_description(description, errors)
    _check_rate_limit(rate_limit_per_minute, errors)
    validated = _validate_mappings(mappings, errors)
    if errors:
        raise ValidationFailed("The config is invalid; see details.", details=errors)
    with transaction.atomic():
        if McpConfig.objects.filter(name=name).exists():
            raise Conflict(
                f"A config named '{name}' already exists.",
                code="already_exists",
                details={"name": f"'{name}' is taken"},
            )
        config = McpConfig.objects.create(
            name=name, description=description, rate_limit_per_minute=rate_limit_per_minute
        )
        _store_mappings(config, validated)
        audit_record(
            event_type=EventType.CONFIG_CREATED,
            actor=actor,
            config_id=config.pk,
            extra={"name": name, "tools": _tool_keys(validated)},
        )
        _announce(config)
    return config


def mcp_config_update(
    *,
    config: McpConfig,
    description: str | None = None,
    mappings: list[dict[str, Any]] | None = None,
    rate_limit_per_minute: int | None = _UNCHANGED,
    actor: str,
) -> McpConfig:
    """Replace what is given (mappings as a whole: PUT semantics). The name never changes."""
    errors: dict[str, str] = {}
    if description is not None:
        _check_description(description, errors)
    if rate_limit_per_minute is not _UNCHANGED:
        _check_rate_limit(rate_limit_per_minute, errors)
    validated = _validate_mappings(mappings, errors) if mappings is not None else None
    if errors:
        raise ValidationFailed("The config is invalid; see details.", details=errors)
    with transaction.atomic():
        locked = McpConfig.objects.select_for_update().get(pk=config.pk)
        changes: dict[str, Any] = {}
        if description is not None and description != locked.description:
            locked.description = description
            changes["description"] = "changed"
        if (
            rate_limit_per_minute is not _UNCHANGED
            and rate_limit_per_minute != locked.rate_limit_per_minute
        ):
            changes["rate_limit_per_minute"] = {
                "from": locked.rate_limit_per_minute,
                "to": rate_limit_per_minute,
            }
            locked.rate_limit_per_minute = rate_limit_per_minute
        if validated is not None:
            before = _stored_state(locked)
            after = {
                m.connection.name: {"tools": m.tools, "overrides": m.overrides} for m in validated
            }
            changes.update(_diff_mappings(before, after))
            _store_mappings(locked, validated)
        locked.save()
        if changes:
            audit_record(
                event_type=EventType.CONFIG_CHANGED,
                actor=actor,
                config_id=locked.pk,
                extra={"name": locked.name, **changes},
            )
            _announce(locked)
    return locked


def mcp_config_delete(*, config: McpConfig, actor: str) -> None:
    """Delete the server; its session tokens go with it, so live sessions end."""
    with transaction.atomic():
        config_id, name = config.pk, config.name
        audit_record(
            event_type=EventType.CONFIG_DELETED,
            actor=actor,
            config_id=config_id,
            extra={"name": name, "tools": sorted(_stored_tool_keys(config))},
        )
        McpConfig.objects.filter(pk=config_id).delete()
        _announce(config)


# ---------------------------------------------------------------- validation


def _check_description(description: Any, errors: dict[str, str]) -> None:
    if not isinstance(description, str):
        errors["description"] = "must be a string"
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = f"at most {MAX_DESCRIPTION} characters"


def _check_rate_limit(value: Any, errors: dict[str, str]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        errors["rate_limit_per_minute"] = f"an integer from 1 to {MAX_RATE_LIMIT}, or null"


def _validate_mappings(raw: Any, errors: dict[str, str]) -> list[_Mapping]:
    """Check every entry; each error is keyed by the exact entry that is wrong."""
    if not isinstance(raw, list):
        errors[FIELD] = "must be a list"
        return []
    if len(raw) > MAX_MAPPINGS:
        errors[FIELD] = f"at most {MAX_MAPPINGS} connections per server"
        return []
    names = [m.get("connection_name") for m in raw if isinstance(m, dict)]
    connections = {
        c.name: c
        for c in Connection.objects.filter(name__in=[n for n in names if isinstance(n, str)])
    }
    result: list[_Mapping] = []
    # exposed name -> (where it was declared, "connection.tool")
    exposed: dict[str, tuple[str, str]] = {}
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        at = f"{FIELD}[{index}]"
        if not isinstance(entry, dict):
            errors[at] = "must be an object {connection_name, tools, overrides}"
            continue
        unknown = set(entry) - {"connection_name", "tools", "overrides"}
        if unknown:
            errors[at] = f"unknown field(s): {', '.join(sorted(map(str, unknown)))}"
            continue
        name = entry.get("connection_name")
        if not isinstance(name, str) or not name:
            errors[f"{at}.connection_name"] = "required"
            continue
        if name in first_seen:
            errors[f"{at}.connection_name"] = (
                f"connection '{name}' is already mapped in {FIELD}[{first_seen[name]}]"
            )
            continue
        first_seen[name] = index
        connection = connections.get(name)
        if connection is None:
            errors[f"{at}.connection_name"] = f"no connection named '{name}' in this tenant"
            continue
        mapping = _validate_one(entry, connection, at, errors, exposed)
        if mapping is not None:
            result.append(mapping)
    return result


def _validate_one(
    entry: dict[str, Any],
    connection: Connection,
    at: str,
    errors: dict[str, str],
    exposed: dict[str, tuple[str, str]],
) -> _Mapping | None:
    available = {t["name"]: t for t in connection_tools(connection)}
    tools = entry.get("tools")
    if not isinstance(tools, list) or not tools:
        errors[f"{at}.tools"] = 'a non-empty list of tool names, or ["*"] for all'
        return None
    ok = True
    chosen: list[str] = []
    for position, tool in enumerate(tools):
        where = f"{at}.tools[{position}]"
        if tool == ToolMapping.ALL_TOOLS:
            if len(tools) != 1:
                errors[where] = "'*' (all tools) must be the only entry"
                ok = False
            continue
        if not isinstance(tool, str) or tool not in available:
            errors[where] = f"unknown tool {tool!r} on connection '{connection.name}'"
            ok = False
        elif tool in chosen:
            errors[where] = f"tool '{tool}' is listed twice"
            ok = False
        else:
            chosen.append(tool)
    overrides = _validate_overrides(
        entry.get("overrides"), available, tools, connection, at, errors
    )
    if not ok or overrides is None:
        return None
    exposes_all = tools == [ToolMapping.ALL_TOOLS]
    for position, tool in enumerate(list(available) if exposes_all else chosen):
        exposed_name = overrides.get(tool, {}).get("name") or tool
        where = f"{at}.tools[{0 if exposes_all else position}]"
        if tool in overrides and overrides[tool].get("name"):
            where = f"{at}.overrides.{tool}.name"
        qualified = f"{connection.name}.{tool}"
        if exposed_name in exposed:
            other_where, other = exposed[exposed_name]
            errors[where] = (
                f"exposed name '{exposed_name}' of {qualified} clashes with {other} "
                f"({other_where}); rename one with an override"
            )
            ok = False
        else:
            exposed[exposed_name] = (where, qualified)
    if not ok:
        return None
    return _Mapping(
        connection=connection,
        tools=[ToolMapping.ALL_TOOLS] if exposes_all else chosen,
        overrides=overrides,
    )


def _validate_overrides(
    raw: Any,
    available: dict[str, Any],
    tools: list[Any],
    connection: Connection,
    at: str,
    errors: dict[str, str],
) -> dict[str, dict[str, str]] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors[f"{at}.overrides"] = "must be an object {tool: {name?, description?}}"
        return None
    mapped = set(available) if tools == [ToolMapping.ALL_TOOLS] else set(tools)
    result: dict[str, dict[str, str]] = {}
    ok = True
    for tool, override in raw.items():
        where = f"{at}.overrides.{tool}"
        if tool not in available:
            errors[where] = f"unknown tool '{tool}' on connection '{connection.name}'"
            ok = False
            continue
        if tool not in mapped:
            errors[where] = f"tool '{tool}' is not exposed by this mapping"
            ok = False
            continue
        if not isinstance(override, dict) or set(override) - {"name", "description"}:
            errors[where] = "must be an object with 'name' and/or 'description'"
            ok = False
            continue
        clean: dict[str, str] = {}
        name = override.get("name")
        if name not in (None, ""):
            if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
                errors[f"{where}.name"] = (
                    "a tool name of 1–128 characters: letters, digits, '_', '.', '-'"
                )
                ok = False
            else:
                clean["name"] = name
        description = override.get("description")
        if description not in (None, ""):
            if not isinstance(description, str) or len(description) > MAX_OVERRIDE_DESCRIPTION:
                errors[f"{where}.description"] = (
                    f"a string of at most {MAX_OVERRIDE_DESCRIPTION} characters"
                )
                ok = False
            else:
                clean["description"] = description
        if clean:
            result[tool] = clean
    return result if ok else None


# ---------------------------------------------------------------- storage and change tracking


def _store_mappings(config: McpConfig, mappings: list[_Mapping]) -> None:
    ToolMapping.objects.filter(config=config).delete()
    ToolMapping.objects.bulk_create(
        ToolMapping(
            config=config,
            connection=m.connection,
            tools=m.tools,
            overrides=m.overrides,
            position=position,
        )
        for position, m in enumerate(mappings)
    )


def _stored_state(config: McpConfig) -> dict[str, dict[str, Any]]:
    return {
        m.connection.name: {"tools": m.tools, "overrides": m.overrides}
        for m in ToolMapping.objects.filter(config=config).select_related("connection")
    }


def _tool_keys(mappings: list[_Mapping]) -> list[str]:
    return [f"{m.connection.name}.{t}" for m in mappings for t in m.tools]


def _stored_tool_keys(config: McpConfig) -> set[str]:
    return {f"{c}.{t}" for c, state in _stored_state(config).items() for t in state["tools"]}


def _diff_mappings(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """What changed, for the audit trail: tools are named "<connection>.<tool>"."""

    def keys(state: dict[str, dict[str, Any]]) -> set[str]:
        return {f"{c}.{t}" for c, s in state.items() for t in s["tools"]}

    changes: dict[str, list[str]] = {}
    added, removed = sorted(keys(after) - keys(before)), sorted(keys(before) - keys(after))
    if added:
        changes["tools_added"] = added
    if removed:
        changes["tools_removed"] = removed
    overrides = sorted(
        f"{c}.{t}"
        for c in set(before) | set(after)
        for t in set(before.get(c, {}).get("overrides", {}))
        | set(after.get(c, {}).get("overrides", {}))
        if before.get(c, {}).get("overrides", {}).get(t)
        != after.get(c, {}).get("overrides", {}).get(t)
    )
    if overrides:
        changes["overrides_changed"] = overrides
    order_before = [c for c in before if c in after]
    order_after = [c for c in after if c in before]
    if order_before != order_after and not added and not removed:
        changes["order_changed"] = order_after
    return changes


def _announce(config: McpConfig) -> None:
    """Tell the gateway after commit, so live sessions re-list tools (never before it's real)."""
    transaction.on_commit(
        partial(
            config_changed.send,
            sender=McpConfig,
            config_id=str(config.pk),
            tenant_schema=db_connection.schema_name,
        )
    )
