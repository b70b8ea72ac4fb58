"""What a connection's writes and its tool sync share: the diff of two tool lists and the
announcement that tells live MCP sessions to re-list. Its own module so that ``writes`` (an
OpenAPI re-import) and ``sync`` (an upstream MCP discovery) both use it without importing each
other.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import connection as db_connection
from django.db import transaction

from configs.models import Connection, McpConfig
from configs.signals import config_changed


def tools_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Tool names added, removed and changed between two catalogues."""
    before = {t.get("name"): t for t in old}
    after = {t.get("name"): t for t in new}
    return {
        "added": sorted(n for n in after if n not in before),
        "removed": sorted(n for n in before if n not in after),
        "changed": sorted(n for n in after if n in before and after[n] != before[n]),
    }


def announce_configs(connection: Connection) -> None:
    """After commit, tell live MCP sessions of configs using this connection to re-list."""
    schema = db_connection.schema_name
    for config_id in McpConfig.objects.filter(mappings__connection=connection).values_list(
        "pk", flat=True
    ):
        transaction.on_commit(
            partial(
                config_changed.send,
                sender=McpConfig,
                config_id=str(config_id),
                tenant_schema=schema,
            )
        )
