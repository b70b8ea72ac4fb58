"""Reads for the management side: the grants end users gave clients."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from vmcp_platform.errors import NotFound

from ..models import OAuthGrant


def oauth_grant_list(
    *, identifier: str | None = None, active: bool | None = None
) -> QuerySet[OAuthGrant]:
    grants = OAuthGrant.objects.select_related("client", "config").order_by("-created_at", "-id")
    if identifier:
        grants = grants.filter(identifier=identifier)
    if active is True:
        grants = grants.filter(revoked_at__isnull=True)
    elif active is False:
        grants = grants.filter(revoked_at__isnull=False)
    return grants


def oauth_grant_get(*, grant_id: int) -> OAuthGrant:
    grant = OAuthGrant.objects.select_related("client", "config").filter(pk=grant_id).first()
    if grant is None:
        raise NotFound("No such grant.")
    return grant


def oauth_grant_body(grant: OAuthGrant) -> dict[str, Any]:
    return {
        "id": grant.pk,
        "identifier": grant.identifier,
        "client_id": grant.client.client_id,
        "client_name": grant.client.client_name,
        "client_kind": grant.client.kind,
        "config_id": str(grant.config_id),
        "config_name": grant.config.name,
        "scopes": grant.scopes,
        "created_at": grant.created_at.isoformat(),
        "last_used_at": grant.last_used_at.isoformat() if grant.last_used_at else None,
        "revoked_at": grant.revoked_at.isoformat() if grant.revoked_at else None,
        "revoked_reason": grant.revoked_reason,
        "active": grant.revoked_at is None,
    }
