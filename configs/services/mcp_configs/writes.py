"""Writes for virtual MCP servers: create, replace and delete, each audited and announced."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import connection as db_connection
from django.db import transaction

from audit.models import EventType
from audit.services import audit_record
from configs.models import McpConfig, ToolMapping
from configs.signals import config_changed
from vmcp_platform.errors import Conflict, ValidationFailed

from .validation import (
    ValidatedMapping,
    check_description,
    check_name,
    check_rate_limit,
    validate_mappings,
)

_UNCHANGED: Any = object()


def mcp_config_create(
    *,
    name: str,
    description: str = "",
    mappings: list[dict[str, Any]],
    rate_limit_per_minute: int | None = None,
    actor: str,
) -> McpConfig:
    """Create a virtual server with its mappings; audited, and announced after commit."""
    errors: dict[str, str] = {}
    check_name(name, errors)
    check_description(description, errors)
    check_rate_limit(rate_limit_per_minute, errors)
    validated = validate_mappings(mappings, errors)
    if errors:
        raise ValidationFailed("The config is invalid; see details.", details=errors)
    with transaction.atomic():
        if McpConfig.objects.filter(name=name).exists():
            raise Conflict(
                f"A config named '{name}' already exists.",
                code="already_exists",
                details={"name": f"'{name}' is taken"},
            )
        config = McpConfig.objects.create(
            name=name, description=description, rate_limit_per_minute=rate_limit_per_minute
        )
        _store_mappings(config, validated)
        audit_record(
            event_type=EventType.CONFIG_CREATED,
            actor=actor,
            config_id=config.pk,
            extra={"name": name, "tools": _tool_keys(validated)},
        )
        _announce(config)
    return config


def mcp_config_update(
    *,
    config: McpConfig,
    description: str | None = None,
    mappings: list[dict[str, Any]] | None = None,
    rate_limit_per_minute: int | None = _UNCHANGED,
    actor: str,
) -> McpConfig:
    """Replace what is given (mappings as a whole: PUT semantics). The name never changes."""
    errors: dict[str, str] = {}
    if description is not None:
        check_description(description, errors)
    if rate_limit_per_minute is not _UNCHANGED:
        check_rate_limit(rate_limit_per_minute, errors)
    validated = validate_mappings(mappings, errors) if mappings is not None else None
    if errors:
        raise ValidationFailed("The config is invalid; see details.", details=errors)
    with transaction.atomic():
        locked = McpConfig.objects.select_for_update().get(pk=config.pk)
        changes: dict[str, Any] = {}
        if description is not None and description != locked.description:
            locked.description = description
            changes["description"] = "changed"
        if (
            rate_limit_per_minute is not _UNCHANGED
            and rate_limit_per_minute != locked.rate_limit_per_minute
        ):
            changes["rate_limit_per_minute"] = {
                "from": locked.rate_limit_per_minute,
                "to": rate_limit_per_minute,
            }
            locked.rate_limit_per_minute = rate_limit_per_minute
        if validated is not None:
            before = _stored_state(locked)
            after = {
                m.connection.name: {
                    "tools": m.tools,
                    "overrides": m.overrides,
                    "tool_rate_limits": m.tool_rate_limits,
                    "prompts": m.prompts,
                    "resources": m.resources,
                    "prompt_overrides": m.prompt_overrides,
                }
                for m in validated
            }
            changes.update(_diff_mappings(before, after))
            _store_mappings(locked, validated)
        locked.save()
        if changes:
            audit_record(
                event_type=EventType.CONFIG_CHANGED,
                actor=actor,
                config_id=locked.pk,
                extra={"name": locked.name, **changes},
            )
            _announce(locked)
    return locked


def mcp_config_delete(*, config: McpConfig, actor: str) -> None:
    """Delete the server; its session tokens go with it, so live sessions end."""
    with transaction.atomic():
        config_id, name = config.pk, config.name
        audit_record(
            event_type=EventType.CONFIG_DELETED,
            actor=actor,
            config_id=config_id,
            extra={"name": name, "tools": sorted(_stored_tool_keys(config))},
        )
        McpConfig.objects.filter(pk=config_id).delete()
        _announce(config)


# ---------------------------------------------------------------- storage and change tracking


def _store_mappings(config: McpConfig, mappings: list[ValidatedMapping]) -> None:
    ToolMapping.objects.filter(config=config).delete()
    ToolMapping.objects.bulk_create(
        ToolMapping(
            config=config,
            connection=m.connection,
            tools=m.tools,
            overrides=m.overrides,
            tool_rate_limits=m.tool_rate_limits,
            prompts=m.prompts,
            resources=m.resources,
            prompt_overrides=m.prompt_overrides,
            position=position,
        )
        for position, m in enumerate(mappings)
    )


def _stored_state(config: McpConfig) -> dict[str, dict[str, Any]]:
    return {
        m.connection.name: {
            "tools": m.tools,
            "overrides": m.overrides,
            "tool_rate_limits": m.tool_rate_limits,
            "prompts": m.prompts,
            "resources": m.resources,
            "prompt_overrides": m.prompt_overrides,
        }
        for m in ToolMapping.objects.filter(config=config).select_related("connection")
    }


def _tool_keys(mappings: list[ValidatedMapping]) -> list[str]:
    return [f"{m.connection.name}.{t}" for m in mappings for t in m.tools]


def _stored_tool_keys(config: McpConfig) -> set[str]:
    return {f"{c}.{t}" for c, state in _stored_state(config).items() for t in state["tools"]}


def _diff_mappings(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """What changed, for the audit trail: tools are named "<connection>.<tool>"."""

    def keys(state: dict[str, dict[str, Any]]) -> set[str]:
        return {f"{c}.{t}" for c, s in state.items() for t in s["tools"]}

    changes: dict[str, list[str]] = {}
    added, removed = sorted(keys(after) - keys(before)), sorted(keys(before) - keys(after))
    if added:
        changes["tools_added"] = added
    if removed:
        changes["tools_removed"] = removed
    # Per-entry maps (overrides, limits, prompt renames): the "connection.entry" keys that differ.
    for field, change in (
        ("overrides", "overrides_changed"),
        ("tool_rate_limits", "tool_rate_limits_changed"),
        ("prompt_overrides", "prompt_overrides_changed"),
    ):
        changed = _entries_changed(before, after, field)
        if changed:
            changes[change] = changed
    for kind in ("prompts", "resources"):
        was = {f"{c}.{x}" for c, s in before.items() for x in s.get(kind) or []}
        now = {f"{c}.{x}" for c, s in after.items() for x in s.get(kind) or []}
        if now - was:
            changes[f"{kind}_added"] = sorted(now - was)
        if was - now:
            changes[f"{kind}_removed"] = sorted(was - now)
    order_before = [c for c in before if c in after]
    order_after = [c for c in after if c in before]
    if order_before != order_after and not added and not removed:
        changes["order_changed"] = order_after
    return changes


def _entries_changed(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], field: str
) -> list[str]:
    def entries(state: dict[str, dict[str, Any]], connection: str) -> dict[str, Any]:
        return state.get(connection, {}).get(field) or {}

    return sorted(
        f"{c}.{key}"
        for c in set(before) | set(after)
        for key in set(entries(before, c)) | set(entries(after, c))
        if entries(before, c).get(key) != entries(after, c).get(key)
    )


def _announce(config: McpConfig) -> None:
    """Tell the gateway after commit, so live sessions re-list tools (never before it's real)."""
    transaction.on_commit(
        partial(
            config_changed.send,
            sender=McpConfig,
            config_id=str(config.pk),
            tenant_schema=db_connection.schema_name,
        )
    )
