"""The catalog of built-in connectors and their tools, searchable."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.catalog import catalog_search
from tenants.access import tenant_member_required

from ._common import render_page


@tenant_member_required()
def catalog(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    template = (
        "dashboard/connectors/_results.html" if request.htmx else "dashboard/connectors/list.html"  # type: ignore[attr-defined]
    )
    return render_page(
        request, template, "connectors", {"q": query, "entries": catalog_search(query)}
    )
