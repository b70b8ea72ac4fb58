"""The catalog of built-in connectors, by slug."""

from __future__ import annotations

from connectors import demo, github, gmail, googlecalendar, slack
from connectors.base import Connector

CONNECTORS: dict[str, Connector] = {
    module.CONNECTOR.slug: module.CONNECTOR
    for module in (gmail, googlecalendar, slack, github, demo)
}
# The upstream-MCP connector ("mcp") is registered here too; its tools are discovered from
# the tenant's server per connection rather than declared as data.


def get_connector(slug: str) -> Connector | None:
    return CONNECTORS.get(slug)


def all_connectors() -> list[Connector]:
    return list(CONNECTORS.values())
