"""Discovery of an upstream MCP server's prompts, resources and resource templates at sync.

Stored on the connection beside its tools, so a mapping can allow them by name / URI and the
endpoint can list them without asking the upstream on every ``*/list``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from configs.models import Connection

FEATURE_FIELDS = ("prompts", "resources", "resource_templates", "upstream_capabilities")


def discover_features(*, server_url: str, headers: dict[str, str]) -> dict[str, Any]:
    """What the upstream declares and lists besides tools; raises ``ProviderError``."""
    from connectors import mcp_features

    return async_to_sync(mcp_features.list_features)(server_url=server_url, headers=headers)


def features_store(connection: Connection, features: dict[str, Any]) -> list[str]:
    """Set the discovered features on ``connection`` (unsaved); returns the fields to save."""
    connection.prompts = features.get("prompts") or []
    connection.resources = features.get("resources") or []
    connection.resource_templates = features.get("resource_templates") or []
    connection.upstream_capabilities = features.get("capabilities") or {}
    return list(FEATURE_FIELDS)


def features_counts(connection: Connection) -> dict[str, int]:
    """For the sync's audit row."""
    return {
        "prompts": len(connection.prompts or []),
        "resources": len(connection.resources or []),
        "resource_templates": len(connection.resource_templates or []),
    }
