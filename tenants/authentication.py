"""REST authentication: ``Authorization: Bearer vmcp_sk_…``, valid only on the key's own tenant."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DatabaseError, transaction
from rest_framework import authentication
from rest_framework.request import Request

from vmcp_platform import authfail
from vmcp_platform.errors import AuthenticationFailed, RateLimited

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
        source = authfail.source_address(
            request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR")
        )
        # A source that failed too often gets 429 for its failures; a valid key from it still
        # gets in (backends of several tenants may share an egress address).
        retry_after = authfail.blocked_for(authfail.API, source)
        if scheme.lower() != "bearer" or not secret.strip():
            _refuse_if_blocked(retry_after)
            _audit_failure(request, tenant, source, "malformed_authorization_header")
            raise AuthenticationFailed(
                "Use 'Authorization: Bearer <API key>'.",
                details={"reason": "malformed_authorization_header"},
            )
        api_key = api_key_get_active(secret=secret.strip(), tenant=tenant) if tenant else None
        if api_key is None:
            _refuse_if_blocked(retry_after)
            _audit_failure(request, tenant, source, "invalid_api_key")
            raise AuthenticationFailed(
                "The API key is invalid, revoked, or belongs to another tenant.",
                details={"reason": "invalid_api_key"},
            )
        api_key_touch(api_key=api_key)
        return ApiKeyPrincipal(api_key=api_key, tenant=tenant), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="vmcp"'


def _refuse_if_blocked(retry_after: float | None) -> None:
    if retry_after is not None:
        raise RateLimited(
            "Too many failed authentications from this address; retry later.",
            retry_after=float(retry_after),
            details={"scope": "source"},
        )


def _audit_failure(request: Request, tenant: Tenant | None, source: str, reason: str) -> None:
    """Count the failure against its source; on a known tenant, record ``auth.failed`` in
    aggregate (one row per source, reason and window): who knocked, never the key presented.

    DRF views are not atomic, so the row commits even though the request is refused.
    """
    if tenant is None:
        authfail.failure_count(authfail.API, source)
        return
    from audit.services import audit_auth_failure

    try:
        # A savepoint, so a failed write cannot poison a caller's transaction.
        with transaction.atomic():
            audit_auth_failure(
                tenant=tenant,
                surface=authfail.API,
                source=source,
                reason=reason,
                extra={"method": request.method, "path": request.path[:200]},
            )
    except DatabaseError:
        # Refusing the request matters more than recording the refusal.
        logger.exception("could not record auth.failed for tenant %s", tenant.slug)
