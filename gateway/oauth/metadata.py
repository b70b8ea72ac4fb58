"""The documents clients discover: RFC 8414 authorization-server metadata and what the RFC 9728
protected-resource metadata of each virtual server says about it."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from ..models import OAuthSettings
from .policy import SCOPES_SUPPORTED, issuer_for


def backend_issued(tenant_slug: str) -> dict[str, Any]:
    """What a tenant without an identity source tells clients instead of an empty dead end."""
    return {
        "method": "backend_minted_session_token",
        "description": (
            "This virtual server does not sign users in. Its bearer tokens are vmcp session "
            "tokens issued by the tenant's backend for one end user "
            f"(POST /t/{tenant_slug}/api/v1/mcp/configs/<id>/tokens); send one as "
            "'Authorization: Bearer <token>'."
        ),
        "documentation": f"{settings.PUBLIC_BASE_URL}/api/v1/docs/",
    }


def authorization_server_metadata(tenant_slug: str, row: OAuthSettings) -> dict[str, Any]:
    issuer = issuer_for(tenant_slug)
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": SCOPES_SUPPORTED,
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": bool(row.cimd_enabled),
        "service_documentation": f"{settings.PUBLIC_BASE_URL}/api/v1/docs/",
    }
    if row.dcr_enabled:
        document["registration_endpoint"] = f"{issuer}/register"
    return document


def protected_resource_extra(tenant_slug: str, row: OAuthSettings | None) -> dict[str, Any]:
    """The PRM fields that depend on whether the tenant signs users in."""
    if row is not None and row.has_identity_source:
        return {
            "authorization_servers": [issuer_for(tenant_slug)],
            "scopes_supported": SCOPES_SUPPORTED,
        }
    return {"authorization_servers": [], "vmcp_token_issuance": backend_issued(tenant_slug)}
