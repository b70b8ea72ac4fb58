"""The builder's rows for an upstream MCP connection's prompts and resources.

Beside its tools, an upstream connection's panel lists what its last sync discovered: prompts
(by name) and resources and resource templates (by URI / URI template). Ticking them, or "all",
fills the mapping's ``prompts`` / ``resources``; each row's definition is what the agent
receives from ``prompts/list`` / ``resources/list``, so it counts in the token estimate.

Form field names: ``prompt:<connection>`` and ``resource:<connection>`` (one value per ticked
row), ``allprompts:<connection>`` and ``allresources:<connection>``, and a prompt's override
``poname:<connection>:<prompt>`` / ``podesc:<connection>:<prompt>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from configs.features import listed
from configs.models import Connection, ToolMapping
from configs.selectors import MCP_CONNECTOR

from .catalog import estimate_tokens


@dataclass
class FeatureRow:
    key: str  # the prompt's name, the resource's URI or the template's URI template
    description: str
    definition: dict[str, Any]
    template: bool = False
    checked: bool = False
    # Prompts only: the per-server name/description (the mapping's ``prompt_overrides``).
    override_name: str = ""
    override_description: str = ""

    @property
    def exposed(self) -> dict[str, Any]:
        out = dict(self.definition)
        if self.override_name:
            out["name"] = self.override_name
        if self.override_description:
            out["description"] = self.override_description
        return out

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.exposed)


def prompt_rows(connection: Connection) -> list[FeatureRow]:
    if connection.connector != MCP_CONNECTOR:
        return []
    return [
        FeatureRow(key=p["name"], description=p.get("description", ""), definition=p)
        for p in listed(connection.prompts)
        if isinstance(p.get("name"), str)
    ]


def resource_rows(connection: Connection) -> list[FeatureRow]:
    if connection.connector != MCP_CONNECTOR:
        return []
    direct = [
        FeatureRow(key=r["uri"], description=r.get("description", ""), definition=r)
        for r in listed(connection.resources)
        if isinstance(r.get("uri"), str)
    ]
    templates = [
        FeatureRow(
            key=t["uriTemplate"], description=t.get("description", ""), definition=t, template=True
        )
        for t in listed(connection.resource_templates)
        if isinstance(t.get("uriTemplate"), str)
    ]
    return direct + templates


def tick(rows: list[FeatureRow], chosen: Any) -> bool:
    """Tick the rows a mapping (or the form) chose; returns whether it chose "all"."""
    chosen = list(chosen or [])
    everything = ToolMapping.ALL_TOOLS in chosen
    for row in rows:
        row.checked = everything or row.key in chosen
    return everything


def read_prompt_overrides(rows: list[FeatureRow], data: Any, connection_name: str) -> None:
    for row in rows:
        row.override_name = data.get(f"poname:{connection_name}:{row.key}", "").strip()
        row.override_description = data.get(f"podesc:{connection_name}:{row.key}", "").strip()


def set_prompt_overrides(rows: list[FeatureRow], overrides: Any) -> None:
    for row in rows:
        override = (overrides or {}).get(row.key) or {}
        row.override_name = override.get("name", "")
        row.override_description = override.get("description", "")


def prompt_overrides(rows: list[FeatureRow]) -> dict[str, dict[str, str]]:
    """The mapping's ``prompt_overrides`` for the ticked prompts."""
    result = {}
    for row in rows:
        override = {
            key: value
            for key, value in (
                ("name", row.override_name),
                ("description", row.override_description),
            )
            if value
        }
        if row.checked and override:
            result[row.key] = override
    return result


def chosen(rows: list[FeatureRow], everything: bool) -> list[str]:
    """The mapping's list for these rows."""
    if everything:
        return [ToolMapping.ALL_TOOLS]
    return [row.key for row in rows if row.checked]
