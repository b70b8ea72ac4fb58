"""The audit log: filters, pages, one event's detail, and an export of the filtered set."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse

from audit.export import FORMATS, export_parts, export_parts_async
from audit.models import AuditEvent, EventType, Outcome
from audit.selectors import AuditFilters, audit_event_get, audit_events_filtered
from configs.models import McpConfig, SessionToken
from configs.selectors_mcp import mcp_config_list
from tenants.access import tenant_member_required
from vmcp_platform.errors import NotFound

from ._common import render_page

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    identifier = forms.CharField(required=False, label="End user")
    tool = forms.CharField(required=False, label="Tool")
    server = forms.TypedChoiceField(
        required=False, coerce=uuid.UUID, empty_value=None, label="Virtual server"
    )
    connection = forms.CharField(required=False, label="Connection")
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *Outcome.choices], label="Outcome"
    )
    event_type = forms.ChoiceField(
        required=False, choices=[("", "Any event"), *EventType.choices], label="Event"
    )
    since = forms.DateField(
        required=False, label="From (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To (UTC day)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # By name: nobody remembers a server's UUID (links from a server's page still pass it).
        choices = [("", "Any server"), *((str(c.pk), c.name) for c in mcp_config_list())]
        asked = str(self.data.get("server") or "")
        if asked and asked not in dict(choices) and _is_uuid(asked):
            # A deleted server's events stay findable (its id is on their rows).
            choices.append((asked, f"deleted server {asked[:8]}…"))
        self.fields["server"].choices = choices

    def clean(self) -> dict:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "“To” must not be before “From”.")
        return data

    def filters(self) -> AuditFilters:
        data = {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}
        until = data.get("until")
        return AuditFilters(
            identifier=data.get("identifier"),
            tool=data.get("tool"),
            config=data.get("server"),
            connection=data.get("connection"),
            outcome=data.get("outcome"),
            event_type=data.get("event_type"),
            since=datetime.combine(data["since"], time.min, tzinfo=UTC)
            if "since" in data
            else None,
            # "To" is a whole day, inclusive.
            until=datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
            if until
            else None,
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _filtered(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return form, AuditEvent.objects.none()
    return form, audit_events_filtered(filters=form.filters())


@tenant_member_required()
def event_list(request: HttpRequest) -> HttpResponse:
    form, events = _filtered(request)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "dashboard/audit/_results.html" if request.htmx else "dashboard/audit/list.html"  # type: ignore[attr-defined]
    return render_page(
        request,
        template,
        "audit",
        {
            "form": form,
            "page": page,
            "filtered": any(v for k, v in request.GET.items() if k != "page"),
            "export_query": request.GET.urlencode(),
        },
    )


@tenant_member_required()
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    try:
        event = audit_event_get(event_id=event_id)
    except NotFound:
        raise Http404("No such event.") from None
    return render_page(
        request,
        "dashboard/audit/detail.html",
        "audit",
        {"event": event, **_event_names(event), "agent_error": _agent_error(event)},
    )


def _event_names(event: AuditEvent) -> dict[str, Any]:
    """The server's name and the token's display prefix for the ids the row stores (either may
    be gone since: the row keeps the id, the page says so)."""
    config = McpConfig.objects.filter(pk=event.config_id).first() if event.config_id else None
    token = (
        SessionToken.objects.filter(pk=event.session_token_id).only("prefix", "identifier").first()
        if event.session_token_id
        else None
    )
    return {"config": config, "token": token}


def _agent_error(event: AuditEvent) -> str:
    """What the agent was told (recorded since rows carry ``extra.error_message``)."""
    if event.outcome == Outcome.OK:
        return ""
    stored = (event.extra or {}).get("error_message")
    return stored if isinstance(stored, str) else ""


@tenant_member_required()
def event_export(request: HttpRequest) -> HttpResponse:
    """The filtered events as CSV (default) or JSON lines (``format=jsonl``)."""
    form, events = _filtered(request)
    if not form.is_valid():
        return HttpResponse("Invalid filters.", status=400, content_type="text/plain")
    fmt = "jsonl" if request.GET.get("format") == "jsonl" else "csv"
    tenant = request.tenant  # type: ignore[attr-defined]
    # Under ASGI Django would read a sync iterator into memory before sending it.
    parts = (
        export_parts_async(tenant, events, fmt)
        if isinstance(request, ASGIRequest)
        else export_parts(tenant, events, fmt)
    )
    response = StreamingHttpResponse(parts, content_type=FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="audit-{tenant.slug}.{fmt}"'
    return response
