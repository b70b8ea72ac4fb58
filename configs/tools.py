"""What a virtual server exposes: its mapped tools, with per-server overrides applied.

Default-deny: a tool appears only if its mapping lists it, or the mapping says ``"*"`` (which
includes tools added to the connection later). The agent sees the override; the call still
reaches the original tool (``ExposedTool.tool_name`` on ``ExposedTool.connection``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from .models import Connection, McpConfig, ToolMapping
from .selectors import connection_tools

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExposedTool:
    exposed_name: str
    description: str
    definition: dict[str, Any]  # the final MCP Tool object (overrides applied)
    connection: Connection
    tool_name: str  # the tool's own name on the connection


def config_mappings(config: McpConfig) -> list[ToolMapping]:
    """The config's mappings with their connections, from a prefetch when the caller made one."""
    cache = getattr(config, "_prefetched_objects_cache", {})
    if "mappings" in cache:
        return list(config.mappings.all())
    return list(
        ToolMapping.objects.filter(config_id=config.pk)
        .select_related("connection")
        .order_by("position", "id")
    )


def mapping_exposed_tools(mapping: ToolMapping) -> list[ExposedTool]:
    """One mapping's tools, in the connection's order for ``"*"`` and the mapping's otherwise."""
    available, names = _mapping_names(mapping)
    return [_exposed(mapping, name, available[name]) for name in names]


def _mapping_names(mapping: ToolMapping) -> tuple[dict[str, dict[str, Any]], list[str]]:
    available = {tool["name"]: tool for tool in connection_tools(mapping.connection)}
    if mapping.exposes_all:
        return available, list(available)
    # A listed tool the connection no longer has (an upstream server dropped it) is skipped,
    # never invented.
    return available, [name for name in mapping.tools if name in available]


def _exposed_name(mapping: ToolMapping, name: str) -> str:
    override = (mapping.overrides or {}).get(name) or {}
    return override.get("name") or name


def _exposed(mapping: ToolMapping, name: str, tool: dict[str, Any]) -> ExposedTool:
    override = (mapping.overrides or {}).get(name) or {}
    definition = copy.deepcopy(tool)
    definition["name"] = override.get("name") or name
    if override.get("description"):
        definition["description"] = override["description"]
    return ExposedTool(
        exposed_name=definition["name"],
        description=definition.get("description", ""),
        definition=definition,
        connection=mapping.connection,
        tool_name=name,
    )


def config_exposed_tools(config: McpConfig) -> list[ExposedTool]:
    """Every tool the config exposes, unique by exposed name (first mapping wins a late clash)."""
    return exposed_tools_of(config_mappings(config), config_id=config.pk)


def exposed_tools_of(mappings: list[ToolMapping], *, config_id: object) -> list[ExposedTool]:
    """``config_exposed_tools`` over mappings the caller read (the warm path's own query)."""
    seen: set[str] = set()
    result = []
    for mapping in mappings:
        for tool in mapping_exposed_tools(mapping):
            if tool.exposed_name in seen:
                # Validation forbids clashes, but a tool added later to a "*" connection can
                # still collide; hiding the newcomer keeps the existing tool stable.
                logger.warning(
                    "config %s: tool %s.%s hidden, its name %r is taken",
                    config_id,
                    tool.connection.name,
                    tool.tool_name,
                    tool.exposed_name,
                )
                continue
            seen.add(tool.exposed_name)
            result.append(tool)
    return result


def config_tool_lookup(config: McpConfig, exposed_name: str) -> ExposedTool | None:
    """The exposed tool of that name, or None: a tool not exposed does not exist here.

    The same answer as searching ``config_exposed_tools`` (first mapping wins a clash), but only
    the tool asked for is copied and overridden: this runs on every ``tools/call``.
    """
    seen: set[str] = set()
    for mapping in config_mappings(config):
        available, names = _mapping_names(mapping)
        for name in names:
            exposed = _exposed_name(mapping, name)
            if exposed in seen:
                continue
            if exposed == exposed_name:
                return _exposed(mapping, name, available[name])
            seen.add(exposed)
    return None
