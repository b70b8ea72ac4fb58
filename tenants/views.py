"""Signing in and picking a tenant (the dashboard itself is the ``dashboard`` app)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .selectors import memberships_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(memberships_for_user(user=request.user))
    if len(memberships) == 1:
        return redirect("dashboard:home", tenant=memberships[0].tenant.slug)
    return render(request, "tenants/switcher.html", {"memberships": memberships})
