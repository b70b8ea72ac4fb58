"""The overview: what is configured, how it is used, and what went wrong lately."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard import selectors
from dashboard.activity import PERIODS, activity, period_for
from tenants.access import tenant_member_required

from ._common import render_page


@tenant_member_required()
def home(request: HttpRequest) -> HttpResponse:
    period = period_for(request.GET.get("period"))
    return render_page(
        request,
        "dashboard/overview.html",
        "home",
        {
            "counts": selectors.overview_counts(),
            "activity": activity(period=period),
            "periods": PERIODS.values(),
            "audit_query": "",
        },
    )
