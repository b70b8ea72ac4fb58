"""REST authentication: ``Authorization: Bearer vmcp_sk_…``, valid only on the key's own tenant."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication
from rest_framework.request import Request

from vmcp_platform.errors import AuthenticationFailed

from .models import ApiKey, Tenant
from .selectors import api_key_get_active
from .services import api_key_touch


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """Who is calling the API: a tenant API key acts with admin rights on its tenant."""

    api_key: ApiKey
    tenant: Tenant
    role: str = "admin"
    is_authenticated: bool = True

    @property
    def actor(self) -> str:
        return f"apikey:{self.api_key.pk}:{self.api_key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationFailed(
                "Use 'Authorization: Bearer <API key>'.",
                details={"reason": "malformed_authorization_header"},
            )
        tenant = getattr(request._request, "tenant", None)
        api_key = api_key_get_active(secret=secret.strip(), tenant=tenant) if tenant else None
        if api_key is None:
            raise AuthenticationFailed(
                "The API key is invalid, revoked, or belongs to another tenant.",
                details={"reason": "invalid_api_key"},
            )
        api_key_touch(api_key=api_key)
        return ApiKeyPrincipal(api_key=api_key, tenant=tenant), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="vmcp"'
