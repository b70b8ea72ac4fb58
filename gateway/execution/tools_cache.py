"""A connection's tools, parsed once per version of its row, for the ORM call path.

An openapi connection's ``tools`` column holds every compiled operation with its request plan
(GitHub's description: ~1,000 tools, ~7 MB of JSON); an upstream MCP server's holds its last
synced list. Reading and decoding that column on every call would dominate the call, so
``prepare`` reads the row without it, plus a version (``xmin``, ``updated_at`` and the column's
stored size: any write of the row changes one of them), and takes the parsed tools from here;
only a new version reads the column again. A stale entry is unreachable by construction.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from django.db import connection as db_connection

from configs.models import Connection

MAX_ENTRIES = 256
# Bounded by what the entries weigh too, in stored (compressed) column bytes: parsed, GitHub's
# ~1.5 MB column is a few tens of MB of Python objects per process.
MAX_COLUMN_BYTES = 24 * 1024 * 1024


@dataclass(frozen=True)
class ParsedTools:
    version: tuple[Any, ...]
    tools: list[dict[str, Any]]  # as stored (openapi: with the request plan)


_entries: dict[tuple[str, int], ParsedTools] = {}
_weight = 0
_lock = threading.Lock()


def _load(connection_id: int) -> tuple[tuple[Any, ...], list[dict[str, Any]]] | None:
    q = db_connection.ops.quote_name
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text, updated_at, pg_column_size(tools), tools"  # noqa: S608
            f" FROM {q(Connection._meta.db_table)} WHERE id = %s",
            [connection_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    tools = row[3]
    if isinstance(tools, str):  # a raw cursor may hand jsonb back as text
        tools = json.loads(tools)
    return (row[0], row[1], row[2]), tools or []


def tools_for(schema: str, connection_id: int, version: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The connection's stored tools at ``version`` (read from the database only when new)."""
    key = (schema, connection_id)
    entry = _entries.get(key)
    if entry is not None and entry.version == version:
        return entry.tools
    loaded = _load(connection_id)
    if loaded is None:
        return []
    read_version, tools = loaded
    size = int(read_version[2] or 0)
    with _lock:
        global _weight
        if len(_entries) >= MAX_ENTRIES or _weight + size > MAX_COLUMN_BYTES:
            _entries.clear()
            _weight = 0
        replaced = _entries.get(key)
        _weight += size - (int(replaced.version[2] or 0) if replaced else 0)
        # Keyed by what was read: a write between the two statements yields the newer tools
        # under the newer version, and the next call matches it.
        _entries[key] = ParsedTools(version=read_version, tools=tools)
    return tools


def clear() -> None:
    global _weight
    with _lock:
        _entries.clear()
        _weight = 0
