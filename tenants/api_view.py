"""The base of every REST view: tenant API-key auth and role permission come from here.

A view would have to go out of its way (and say ``dangerously_``) to skip them.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from tenants.authentication import ApiKeyAuthentication
from tenants.models import Tenant
from tenants.permissions import TenantRolePermission


class TenantAPIView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [TenantRolePermission]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # The tenant came from the path and was resolved by TenantPathMiddleware.
        self.kwargs.pop("tenant", None)
        super().initial(request, *args, **kwargs)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("tenant", None)
        return super().dispatch(request, *args, **kwargs)

    @property
    def tenant(self) -> Tenant:
        return self.request._request.tenant  # type: ignore[attr-defined]

    @property
    def actor(self) -> str:
        return self.request.user.actor  # type: ignore[union-attr]
