"""Signing in, picking a tenant, and the tenant's dashboard home."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .access import tenant_member_required
from .selectors import memberships_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(memberships_for_user(user=request.user))
    if len(memberships) == 1:
        return redirect("dashboard:home", tenant=memberships[0].tenant.slug)
    return render(request, "tenants/switcher.html", {"memberships": memberships})


@tenant_member_required()
def dashboard_home(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/dashboard_home.html", {"tenant": request.tenant})  # type: ignore[attr-defined]
