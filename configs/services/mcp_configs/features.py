"""Validation of a mapping's ``prompts`` and ``resources`` (upstream MCP connections only).

Each entry must name what the connection's last sync discovered: a prompt by name, a resource
by URI or a resource template by its URI template; ``["*"]`` alone means all of them.
"""

from __future__ import annotations

import re
from typing import Any

from configs.models import Connection, ToolMapping
from configs.selectors import MCP_CONNECTOR

MAX_ENTRIES = 500
# As for tool overrides (``validation``, which imports this module).
# Exposed names and descriptions, tools' and prompts' alike.
OVERRIDE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MAX_OVERRIDE_DESCRIPTION = 2000


def _discovered(items: Any, key: str) -> set[str]:
    return {i[key] for i in items or [] if isinstance(i, dict) and isinstance(i.get(key), str)}


def validate_feature_list(
    raw: Any, *, kind: str, connection: Connection, at: str, errors: dict[str, str]
) -> list[str] | None:
    """``kind`` is "prompts" or "resources"; returns the clean list, or None (errors set)."""
    if raw is None:
        return []
    where = f"{at}.{kind}"
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        errors[where] = f'a list of at most {MAX_ENTRIES} entries, or ["*"] for all'
        return None
    if raw and connection.connector != MCP_CONNECTOR:
        errors[where] = f"only an upstream MCP connection has {kind}"
        return None
    if kind == "prompts":
        available = _discovered(connection.prompts, "name")
        noun = "prompt"
    else:
        available = _discovered(connection.resources, "uri") | _discovered(
            connection.resource_templates, "uriTemplate"
        )
        noun = "resource or resource template"
    ok = True
    chosen: list[str] = []
    for position, entry in enumerate(raw):
        spot = f"{where}[{position}]"
        if entry == ToolMapping.ALL_TOOLS:
            if len(raw) != 1:
                errors[spot] = f"'*' (all {kind}) must be the only entry"
                ok = False
            continue
        if not isinstance(entry, str) or entry not in available:
            shown = entry[:200] if isinstance(entry, str) else entry
            errors[spot] = (
                f"unknown {noun} {shown!r} on connection '{connection.name}' "
                "(sync the connection to discover new ones)"
            )
            ok = False
        elif entry in chosen:
            errors[spot] = f"'{entry}' is listed twice"
            ok = False
        else:
            chosen.append(entry)
    if not ok:
        return None
    return [ToolMapping.ALL_TOOLS] if raw == [ToolMapping.ALL_TOOLS] else chosen


def validate_prompt_overrides(
    raw: Any, *, prompts: list[str], connection: Connection, at: str, errors: dict[str, str]
) -> dict[str, dict[str, str]] | None:
    """``{prompt: {name?, description?}}`` for prompts this mapping exposes; None on errors."""
    if raw is None:
        return {}
    where = f"{at}.prompt_overrides"
    if not isinstance(raw, dict):
        errors[where] = "must be an object {prompt: {name?, description?}}"
        return None
    available = _discovered(connection.prompts, "name")
    exposed = available if prompts == [ToolMapping.ALL_TOOLS] else set(prompts)
    result: dict[str, dict[str, str]] = {}
    ok = True
    for prompt, override in raw.items():
        spot = f"{where}.{str(prompt)[:200]}"
        if prompt not in exposed:
            errors[spot] = f"prompt '{str(prompt)[:200]}' is not exposed by this mapping"
            ok = False
            continue
        clean = clean_override(
            override, spot, errors, bad_name="1–128 characters: letters, digits, '_', '.', '-'"
        )
        if clean is None:
            ok = False
        elif clean:
            result[prompt] = clean
    return result if ok else None


def clean_override(
    override: Any, where: str, errors: dict[str, str], *, bad_name: str
) -> dict[str, str] | None:
    """One ``{name?, description?}`` override, its empty values dropped; None (with the
    reasons in ``errors`` under ``where``) when it is not valid."""
    if not isinstance(override, dict) or set(override) - {"name", "description"}:
        errors[where] = "must be an object with 'name' and/or 'description'"
        return None
    clean: dict[str, str] = {}
    ok = True
    name, description = override.get("name"), override.get("description")
    if name not in (None, ""):
        if not isinstance(name, str) or not OVERRIDE_NAME_RE.match(name):
            errors[f"{where}.name"] = bad_name
            ok = False
        else:
            clean["name"] = name
    if description not in (None, ""):
        if not isinstance(description, str) or len(description) > MAX_OVERRIDE_DESCRIPTION:
            errors[f"{where}.description"] = (
                f"a string of at most {MAX_OVERRIDE_DESCRIPTION} characters"
            )
            ok = False
        else:
            clean["description"] = description
    return clean if ok else None
