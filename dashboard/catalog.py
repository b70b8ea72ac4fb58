"""The connector catalog as the dashboard shows it: searched, with token estimates per tool."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from connectors import all_connectors
from connectors.base import Connector


def estimate_tokens(definition: dict[str, Any]) -> int:
    """What a tool definition costs an agent, roughly: ~4 characters of JSON per token."""
    return max(1, round(len(json.dumps(definition, separators=(",", ":"))) / 4))


@dataclass(frozen=True)
class UpstreamMcp:
    """The catalog's card for the tenant's own MCP servers: a connector whose tools are not
    data here but discovered from the server (a connection's "Sync tools")."""

    slug: str = "mcp"
    name: str = "Upstream MCP server"
    description: str = (
        "Any MCP server reachable over Streamable HTTP: yours, a vendor's, an open-source one. "
        "vmcp discovers its tools when you sync the connection, and re-scopes them per virtual "
        "server like any other connector's."
    )
    auth_kind: str = "mcp"
    upstream: bool = True


UPSTREAM_MCP = UpstreamMcp()


@dataclass(frozen=True)
class CatalogEntry:
    connector: Connector | UpstreamMcp
    tools: list[dict[str, Any]]  # the matching tools' definitions, each with "tokens"
    total_tools: int
    total_tokens: int


def catalog_search(query: str = "") -> list[CatalogEntry]:
    """Connectors whose name/description, or any of whose tools, match ``query``."""
    needle = query.lower()
    entries = []
    for connector in all_connectors():
        definitions = [
            {**tool.definition(), "tokens": estimate_tokens(tool.definition())}
            for tool in connector.tools
        ]
        total_tokens = sum(d["tokens"] for d in definitions)
        about = f"{connector.slug} {connector.name} {connector.description}".lower()
        matching = [
            d
            for d in definitions
            if not needle or needle in about or needle in f"{d['name']} {d['description']}".lower()
        ]
        if matching:
            entries.append(CatalogEntry(connector, matching, len(definitions), total_tokens))
    about = f"{UPSTREAM_MCP.slug} {UPSTREAM_MCP.name} {UPSTREAM_MCP.description}".lower()
    if not needle or needle in about:
        entries.append(CatalogEntry(UPSTREAM_MCP, [], 0, 0))
    return entries
