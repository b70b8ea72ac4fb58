"""REST authentication: ``Authorization: Bearer vmcp_sk_…``, valid only on the key's own tenant."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from rest_framework import authentication
from rest_framework.request import Request

from vmcp_platform.errors import AuthenticationFailed

from .models import ApiKey, Tenant
from .selectors import api_key_get_active
from .services import api_key_touch

logger = logging.getLogger(__name__)


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
        tenant = getattr(request._request, "tenant", None)
        if scheme.lower() != "bearer" or not secret.strip():
            _audit_failure(request, tenant, "malformed_authorization_header")
            raise AuthenticationFailed(
                "Use 'Authorization: Bearer <API key>'.",
                details={"reason": "malformed_authorization_header"},
            )
        api_key = api_key_get_active(secret=secret.strip(), tenant=tenant) if tenant else None
        if api_key is None:
            _audit_failure(request, tenant, "invalid_api_key")
            raise AuthenticationFailed(
                "The API key is invalid, revoked, or belongs to another tenant.",
                details={"reason": "invalid_api_key"},
            )
        api_key_touch(api_key=api_key)
        return ApiKeyPrincipal(api_key=api_key, tenant=tenant), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="vmcp"'


def _audit_failure(request: Request, tenant: Tenant | None, reason: str) -> None:
    """Record ``auth.failed`` on a known tenant: who knocked, never the key they presented.

    DRF views are not atomic, so the row commits even though the request is refused.
    """
    if tenant is None:
        return
    from audit.services import audit_record_for_tenant

    try:
        # A savepoint, so a failed write cannot poison a caller's transaction.
        with transaction.atomic():
            audit_record_for_tenant(
                tenant=tenant,
                event_type="auth.failed",
                outcome="denied",
                actor="anonymous",
                error_code=reason,
                extra={"reason": reason, "method": request.method, "path": request.path[:200]},
            )
    except DatabaseError:
        # Refusing the request matters more than recording the refusal.
        logger.exception("could not record auth.failed for tenant %s", tenant.slug)
