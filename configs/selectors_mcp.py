"""Reads for virtual servers and their session tokens (connections' reads are in selectors.py)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from vmcp_platform.errors import NotFound

from .models import McpConfig, SessionToken, ToolMapping


def mcp_server_url(*, tenant_slug: str, config: McpConfig) -> str:
    return f"{settings.PUBLIC_BASE_URL}/t/{tenant_slug}/mcp/{config.pk}"


def mcp_config_list() -> QuerySet[McpConfig]:
    """Configs with mappings and their connections prefetched (two queries for any page)."""
    return McpConfig.objects.prefetch_related(
        Prefetch(
            "mappings",
            queryset=ToolMapping.objects.select_related("connection").order_by("position", "id"),
        )
    ).order_by("name")


def mcp_config_get(*, config_id: uuid.UUID | str) -> McpConfig:
    """This tenant's config; another tenant's id (or a malformed one) is simply not found."""
    try:
        wanted = config_id if isinstance(config_id, uuid.UUID) else uuid.UUID(str(config_id))
    except ValueError:
        raise NotFound("No such MCP config.") from None
    config = mcp_config_list().filter(pk=wanted).first()
    if config is None:
        raise NotFound("No such MCP config.")
    return config


def session_tokens_for_config(
    *, config: McpConfig, identifier: str | None = None, active: bool | None = None
) -> QuerySet[SessionToken]:
    tokens = SessionToken.objects.filter(config=config)
    if identifier is not None:
        tokens = tokens.filter(identifier=identifier)
    if active is not None:
        live = Q(revoked_at__isnull=True, expires_at__gt=timezone.now())
        tokens = tokens.filter(live) if active else tokens.exclude(live)
    return tokens.order_by("-created_at", "-id")


def session_token_get(*, token_id: uuid.UUID | str) -> SessionToken:
    try:
        wanted = token_id if isinstance(token_id, uuid.UUID) else uuid.UUID(str(token_id))
    except ValueError:
        raise NotFound("No such session token.") from None
    token = SessionToken.objects.select_related("config").filter(pk=wanted).first()
    if token is None:
        raise NotFound("No such session token.")
    return token
