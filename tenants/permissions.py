"""One permission for every API view: a principal of this tenant, writes only for admins."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

WRITE_ROLES = frozenset({"owner", "admin"})
READ_ROLES = WRITE_ROLES | {"auditor"}


class TenantRolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        tenant = getattr(request._request, "tenant", None)
        if principal is None or tenant is None or getattr(principal, "tenant", None) != tenant:
            return False
        allowed = READ_ROLES if request.method in SAFE_METHODS else WRITE_ROLES
        return principal.role in allowed
