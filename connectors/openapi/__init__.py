"""Bring-your-own connector: tools compiled from a tenant's OpenAPI 3.0 / 3.1 document.

Unlike the built-in connectors, the tools are per connection (like an upstream MCP server's):
``compiler`` turns a validated document (``loader``) into MCP tool definitions, each carrying
the plan ``requests`` needs to build the exact HTTP request; ``connector`` runs a call.
"""

from __future__ import annotations

OPENAPI_CONNECTOR = "openapi"
# Where a stored tool definition keeps its request plan; stripped before any agent sees it.
PLAN_KEY = "x-vmcp-request"

__all__ = ["OPENAPI_CONNECTOR", "PLAN_KEY"]
