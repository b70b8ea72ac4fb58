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
class CatalogEntry:
    connector: Connector
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
    return entries
