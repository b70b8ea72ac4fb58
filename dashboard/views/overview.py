"""The overview: what is configured, how it is used, and what went wrong lately."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard import selectors
from tenants.access import tenant_member_required

from ._common import render_page


@tenant_member_required()
def home(request: HttpRequest) -> HttpResponse:
    days = selectors.calls_per_day(days=30)
    return render_page(
        request,
        "dashboard/overview.html",
        "home",
        {
            "counts": selectors.overview_counts(),
            "days": days,
            "calls_total": sum(d.total for d in days),
            "peak": max((d.total for d in days), default=0),
            "first_day": days[0].day,
            "last_day": days[-1].day,
            "top_tools": selectors.top_values(column="tool_name"),
            "top_users": selectors.top_values(column="identifier"),
            "recent_errors": selectors.recent_errors(),
        },
    )
