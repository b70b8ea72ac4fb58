"""The virtual server builder's state: which tools are ticked, overrides, and what they cost.

The same state is built from a saved config (edit), from the submitted form (save, and the live
estimate the page asks for as tools are ticked), and turned into the mappings that
``configs.services.mcp_configs`` validates and stores.

Form field names: ``all:<connection>`` (every tool, including future ones), ``tool:<connection>``
(one value per ticked tool), ``oname:<connection>:<tool>`` and ``odesc:<connection>:<tool>``
(overrides). Connection and tool names never contain ':'. An upstream MCP connection's prompts
and resources have rows and fields of their own (``builder_features``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from configs.models import Connection, McpConfig, ToolMapping
from configs.selectors import connection_tools
from configs.tools import config_mappings

from .builder_features import (
    FeatureRow,
    chosen,
    prompt_overrides,
    prompt_rows,
    read_prompt_overrides,
    resource_rows,
    set_prompt_overrides,
    tick,
)
from .catalog import estimate_tokens

ERROR_KEY_RE = re.compile(
    r"^connection_tool_mappings\[(\d+)\](?:\.(?:overrides|tool_rate_limits)\.([^.]+))?"
)


@dataclass
class ToolRow:
    name: str
    description: str
    definition: dict[str, Any]
    checked: bool = False
    override_name: str = ""
    override_description: str = ""
    # Calls per minute per end user on this server; kept as typed so a bad value is reported.
    rate_limit: int | str | None = None
    error: str = ""

    @property
    def exposed(self) -> dict[str, Any]:
        """The definition the agent receives, overrides applied."""
        out = dict(self.definition)
        if self.override_name:
            out["name"] = self.override_name
        if self.override_description:
            out["description"] = self.override_description
        return out

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.exposed)

    @property
    def full_tokens(self) -> int:
        return estimate_tokens(self.definition)


@dataclass
class Panel:
    connection: Connection
    rows: list[ToolRow]
    all_tools: bool = False
    error: str = ""
    # An upstream MCP connection's prompts and resources (``builder_features``).
    prompts: list[FeatureRow] = field(default_factory=list)
    resources: list[FeatureRow] = field(default_factory=list)
    all_prompts: bool = False
    all_resources: bool = False

    @property
    def included(self) -> bool:
        return (
            self.all_tools
            or any(r.checked for r in self.rows)
            or any(r.checked for r in self.prompts + self.resources)
        )

    @property
    def selected_features(self) -> list[FeatureRow]:
        return [r for r in self.prompts + self.resources if r.checked]

    @property
    def selected(self) -> list[ToolRow]:
        return list(self.rows) if self.all_tools else [r for r in self.rows if r.checked]

    @property
    def selected_count(self) -> int:
        return len(self.selected)

    @property
    def selected_tokens(self) -> int:
        # Listed prompts and resources reach the agent too (prompts/list, resources/list).
        return sum(r.tokens for r in self.selected) + sum(r.tokens for r in self.selected_features)

    @property
    def full_tokens(self) -> int:
        return sum(r.full_tokens for r in self.rows) + sum(
            r.tokens for r in self.prompts + self.resources
        )

    def mapping(self) -> dict[str, Any]:
        overrides = {}
        for row in self.selected:
            override = {
                key: value
                for key, value in (
                    ("name", row.override_name),
                    ("description", row.override_description),
                )
                if value
            }
            if override:
                overrides[row.name] = override
        tools = [ToolMapping.ALL_TOOLS] if self.all_tools else [r.name for r in self.selected]
        mapping: dict[str, Any] = {
            "connection_name": self.connection.name,
            "tools": tools,
            "overrides": overrides,
            "tool_rate_limits": {
                r.name: r.rate_limit for r in self.selected if r.rate_limit not in (None, "")
            },
        }
        if self.prompts or self.resources:
            mapping["prompts"] = chosen(self.prompts, self.all_prompts)
            mapping["resources"] = chosen(self.resources, self.all_resources)
            mapping["prompt_overrides"] = prompt_overrides(self.prompts)
        return mapping


@dataclass
class Builder:
    panels: list[Panel]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def included(self) -> list[Panel]:
        return [p for p in self.panels if p.included]

    @property
    def tool_count(self) -> int:
        return sum(p.selected_count for p in self.included)

    @property
    def catalog_count(self) -> int:
        return sum(len(p.rows) for p in self.included)

    @property
    def tokens(self) -> int:
        return sum(p.selected_tokens for p in self.included)

    @property
    def catalog_tokens(self) -> int:
        return sum(p.full_tokens for p in self.included)

    def mappings(self) -> list[dict[str, Any]]:
        return [p.mapping() for p in self.included]

    def attach_errors(self, details: Mapping[str, Any]) -> dict[str, str]:
        """Put the service's mapping errors on their connection or tool; return the rest."""
        rest: dict[str, str] = {}
        included = self.included
        for key, message in details.items():
            match = ERROR_KEY_RE.match(key)
            if match is None or int(match[1]) >= len(included):
                rest[key] = str(message)
                continue
            panel = included[int(match[1])]
            row = next((r for r in panel.rows if r.name == match[2]), None)
            if row is not None:
                row.error = str(message)
            else:
                panel.error = str(message)
        return rest


def _rows(connection: Connection) -> list[ToolRow]:
    return [
        ToolRow(name=d["name"], description=d.get("description", ""), definition=d)
        for d in connection_tools(connection)
    ]


def builder_from_post(data: Any, connections: Iterable[Connection]) -> Builder:
    panels = []
    for connection in connections:
        name = connection.name
        ticked = set(data.getlist(f"tool:{name}"))
        rows = _rows(connection)
        for row in rows:
            row.checked = row.name in ticked
            row.override_name = data.get(f"oname:{name}:{row.name}", "").strip()
            row.override_description = data.get(f"odesc:{name}:{row.name}", "").strip()
            limit = data.get(f"orl:{name}:{row.name}", "").strip()
            row.rate_limit = int(limit) if limit.isdigit() else (limit or None)
        panel = Panel(connection, rows, all_tools=bool(data.get(f"all:{name}")))
        panel.prompts, panel.resources = prompt_rows(connection), resource_rows(connection)
        tick(panel.prompts, data.getlist(f"prompt:{name}"))
        read_prompt_overrides(panel.prompts, data, name)
        tick(panel.resources, data.getlist(f"resource:{name}"))
        panel.all_prompts = bool(data.get(f"allprompts:{name}"))
        panel.all_resources = bool(data.get(f"allresources:{name}"))
        if panel.all_prompts:
            tick(panel.prompts, [ToolMapping.ALL_TOOLS])
        if panel.all_resources:
            tick(panel.resources, [ToolMapping.ALL_TOOLS])
        panels.append(panel)
    return Builder(panels)


def builder_from_config(config: McpConfig | None, connections: Iterable[Connection]) -> Builder:
    mappings = {m.connection_id: m for m in config_mappings(config)} if config else {}
    panels = []
    for connection in connections:
        rows = _rows(connection)
        mapping = mappings.get(connection.pk)
        all_tools = bool(mapping and mapping.exposes_all)
        if mapping is not None:
            for row in rows:
                override = (mapping.overrides or {}).get(row.name) or {}
                row.checked = all_tools or row.name in mapping.tools
                row.override_name = override.get("name", "")
                row.override_description = override.get("description", "")
                row.rate_limit = (mapping.tool_rate_limits or {}).get(row.name)
        panel = Panel(connection, rows, all_tools=all_tools)
        panel.prompts, panel.resources = prompt_rows(connection), resource_rows(connection)
        if mapping is not None:
            panel.all_prompts = tick(panel.prompts, mapping.prompts)
            set_prompt_overrides(panel.prompts, mapping.prompt_overrides)
            panel.all_resources = tick(panel.resources, mapping.resources)
        panels.append(panel)
    return Builder(panels)
