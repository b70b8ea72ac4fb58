"""Validation of a config's fields and its connection→tool mappings.

Errors are collected, not raised one by one, so a caller sees every wrong entry at once, each
keyed by where it is (``connection_tool_mappings[1].tools[0]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError

from configs.models import NAME_VALIDATOR, Connection, ToolMapping
from configs.selectors import connection_tools

from .features import (
    OVERRIDE_NAME_RE,
    clean_override,
    validate_feature_list,
    validate_prompt_overrides,
)

MAX_MAPPINGS = 25
MAX_DESCRIPTION = 2000
MAX_RATE_LIMIT = 100_000
TOOL_NAME_RE = OVERRIDE_NAME_RE
FIELD = "connection_tool_mappings"


@dataclass(frozen=True)
class ValidatedMapping:
    """One validated mapping, ready to be stored."""

    connection: Connection
    tools: list[str]
    overrides: dict[str, dict[str, str]]
    # {original tool name: calls per minute per end user}
    tool_rate_limits: dict[str, int] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    prompt_overrides: dict[str, dict[str, str]] = field(default_factory=dict)


def check_name(name: Any, errors: dict[str, str]) -> None:
    if not isinstance(name, str):
        errors["name"] = "must be a string"
        return
    try:
        NAME_VALIDATOR(name)
    except DjangoValidationError as exc:
        errors["name"] = str(exc.messages[0])


def check_description(description: Any, errors: dict[str, str]) -> None:
    if not isinstance(description, str):
        errors["description"] = "must be a string"
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = f"at most {MAX_DESCRIPTION} characters"


def check_rate_limit(value: Any, errors: dict[str, str]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RATE_LIMIT:
        errors["rate_limit_per_minute"] = f"an integer from 1 to {MAX_RATE_LIMIT}, or null"


def validate_mappings(raw: Any, errors: dict[str, str]) -> list[ValidatedMapping]:
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
    result: list[ValidatedMapping] = []
    # exposed name -> (where it was declared, "connection.tool")
    exposed: dict[str, tuple[str, str]] = {}
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        at = f"{FIELD}[{index}]"
        if not isinstance(entry, dict):
            errors[at] = (
                "must be an object {connection_name, tools, overrides, tool_rate_limits, prompts,"
                " resources, prompt_overrides}"
            )
            continue
        unknown = set(entry) - {
            "connection_name",
            "tools",
            "overrides",
            "prompts",
            "resources",
            "prompt_overrides",
            "tool_rate_limits",
        }
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
) -> ValidatedMapping | None:
    available = {t["name"]: t for t in connection_tools(connection)}
    prompts = validate_feature_list(
        entry.get("prompts"), kind="prompts", connection=connection, at=at, errors=errors
    )
    resources = validate_feature_list(
        entry.get("resources"), kind="resources", connection=connection, at=at, errors=errors
    )
    if prompts is None or resources is None:
        return None
    prompt_overrides = validate_prompt_overrides(
        entry.get("prompt_overrides"), prompts=prompts, connection=connection, at=at, errors=errors
    )
    if prompt_overrides is None:
        return None
    tools = entry.get("tools")
    if tools is None and (prompts or resources):
        tools = []  # a mapping for an upstream's prompts or resources only
    if not isinstance(tools, list) or not (tools or prompts or resources):
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
    tool_limits = _validate_tool_limits(
        entry.get("tool_rate_limits"), available, tools, connection, at, errors
    )
    if not ok or overrides is None or tool_limits is None:
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
    return ValidatedMapping(
        connection=connection,
        tools=[ToolMapping.ALL_TOOLS] if exposes_all else chosen,
        overrides=overrides,
        tool_rate_limits=tool_limits,
        prompts=prompts,
        resources=resources,
        prompt_overrides=prompt_overrides,
    )


MAX_TOOL_RATE_LIMIT = 100_000


def _validate_tool_limits(
    raw: Any,
    available: dict[str, Any],
    tools: list[Any],
    connection: Connection,
    at: str,
    errors: dict[str, str],
) -> dict[str, int] | None:
    """``{tool: calls per minute}`` for tools this mapping exposes (by their original name)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors[f"{at}.tool_rate_limits"] = "must be an object {tool: calls per minute}"
        return None
    mapped = set(available) if tools == [ToolMapping.ALL_TOOLS] else set(tools)
    result: dict[str, int] = {}
    for tool, limit in raw.items():
        where = f"{at}.tool_rate_limits.{tool}"
        if tool not in mapped:
            errors[where] = f"tool '{tool}' is not exposed by this mapping of '{connection.name}'"
        elif (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_TOOL_RATE_LIMIT
        ):
            errors[where] = f"calls per minute: a whole number from 1 to {MAX_TOOL_RATE_LIMIT:,}"
        else:
            result[tool] = limit
    return result if len(result) == len(raw) else None


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
        clean = clean_override(
            override,
            where,
            errors,
            bad_name="a tool name of 1–128 characters: letters, digits, '_', '.', '-'",
        )
        if clean is None:
            ok = False
            continue
        if clean:
            result[tool] = clean
    return result if ok else None
