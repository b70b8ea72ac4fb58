"""Virtual servers: the list, the builder (create/edit, with a live token estimate), the
server's page (MCP URL and client snippets), and delete."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from configs.features import config_exposure
from configs.models import McpConfig
from configs.selectors import connection_list
from configs.selectors_mcp import (
    mcp_config_get,
    mcp_config_list,
    mcp_server_url,
    session_tokens_for_config,
)
from configs.services.mcp_configs import (
    mcp_config_create,
    mcp_config_delete,
    mcp_config_update,
)
from configs.tools import config_exposed_tools
from dashboard.activity import PERIODS, activity, period_for
from dashboard.builder import Builder, builder_from_config, builder_from_post
from dashboard.catalog import estimate_tokens
from dashboard.snippets import server_snippets
from tenants.access import tenant_member_required
from vmcp_platform.errors import ApplicationError, NotFound

from ._common import actor_of, confirm_page, confirmed, form_error, render_page


class ServerForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="Lower-case letters, digits, '_' and '-'; one server per agent role, "
        "e.g. “inbox-summarizer”. It cannot be changed later.",
    )
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    rate_limit_per_minute = forms.IntegerField(
        required=False,
        min_value=1,
        label="Per-user rate limit (calls per minute)",
        help_text="Empty: the tenant's default.",
    )


def _config_or_404(config_id: uuid.UUID) -> McpConfig:
    try:
        return mcp_config_get(config_id=config_id)
    except NotFound:
        raise Http404("No such virtual server.") from None


def _server_url(request: HttpRequest, config: McpConfig) -> str:
    return reverse(
        "dashboard:server",
        kwargs={"tenant": request.tenant.slug, "config_id": config.pk},  # type: ignore[attr-defined]
    )


@tenant_member_required()
def server_list(request: HttpRequest) -> HttpResponse:
    slug = request.tenant.slug  # type: ignore[attr-defined]
    rows = []
    for config in mcp_config_list():
        exposed = config_exposed_tools(config)
        # Listed prompts and resources reach the agent too.
        exposure = config_exposure(config)
        features = exposure.prompts + exposure.resources + exposure.templates
        rows.append(
            {
                "config": config,
                "tools": len(exposed),
                "tokens": sum(estimate_tokens(t.definition) for t in exposed)
                + sum(estimate_tokens(f.definition) for f in features),
                "url": mcp_server_url(tenant_slug=slug, config=config),
            }
        )
    return render_page(
        request,
        "dashboard/servers/list.html",
        "servers",
        {"rows": rows, "has_connections": connection_list().exists()},
    )


def _builder_page(
    request: HttpRequest, form: ServerForm, builder: Builder, config: McpConfig | None, status: int
) -> HttpResponse:
    return render_page(
        request,
        "dashboard/servers/builder.html",
        "servers",
        {"form": form, "builder": builder, "config": config},
        status=status,
    )


def _save(
    request: HttpRequest, form: ServerForm, builder: Builder, config: McpConfig | None
) -> McpConfig | None:
    """Create or update through the configs service; its errors go next to their fields."""
    valid = form.is_valid()
    if not builder.included:
        form.add_error(None, "Tick at least one tool, or “all tools” of a connection.")
        return None
    if not valid:
        return None
    data = form.cleaned_data
    try:
        if config is None:
            return mcp_config_create(
                name=data["name"],
                description=data["description"],
                mappings=builder.mappings(),
                rate_limit_per_minute=data["rate_limit_per_minute"],
                actor=actor_of(request),
            )
        return mcp_config_update(
            config=config,
            description=data["description"],
            mappings=builder.mappings(),
            rate_limit_per_minute=data["rate_limit_per_minute"],
            actor=actor_of(request),
        )
    except ApplicationError as exc:
        rest = builder.attach_errors(exc.details)
        if rest or not exc.details:
            form_error(form, ApplicationError(exc.message, details=rest))
        else:
            form.add_error(None, "Some tools need attention: see the messages below.")
        return None


@tenant_member_required(write=True)
def server_create(request: HttpRequest) -> HttpResponse:
    connections = list(connection_list())
    if request.method != "POST":
        return _builder_page(
            request, ServerForm(), builder_from_config(None, connections), None, 200
        )
    form = ServerForm(request.POST)
    builder = builder_from_post(request.POST, connections)
    config = _save(request, form, builder, None)
    if config is None:
        return _builder_page(request, form, builder, None, 400)
    messages.success(request, f"Virtual server “{config.name}” created.")
    return redirect(_server_url(request, config))


@tenant_member_required(write=True)
def server_edit(request: HttpRequest, config_id: uuid.UUID) -> HttpResponse:
    config = _config_or_404(config_id)
    connections = list(connection_list())
    initial = {
        "name": config.name,
        "description": config.description,
        "rate_limit_per_minute": config.rate_limit_per_minute,
    }
    if request.method != "POST":
        form = _locked_name(ServerForm(initial=initial))
        return _builder_page(request, form, builder_from_config(config, connections), config, 200)
    # The name never changes: the submitted one is ignored.
    form = _locked_name(ServerForm(request.POST, initial=initial))
    builder = builder_from_post(request.POST, connections)
    saved = _save(request, form, builder, config)
    if saved is None:
        return _builder_page(request, form, builder, config, 400)
    messages.success(request, f"Virtual server “{saved.name}” saved.")
    return redirect(_server_url(request, saved))


def _locked_name(form: ServerForm) -> ServerForm:
    form.fields["name"].disabled = True
    form.fields["name"].help_text = "The name of a server cannot change."
    return form


@tenant_member_required(write=True)
def server_estimate(request: HttpRequest) -> HttpResponse:
    """The builder's estimate for the submitted (unsaved) selection, swapped in by htmx."""
    builder = builder_from_post(request.POST, connection_list())
    return render_page(request, "dashboard/servers/_estimate.html", "servers", {"builder": builder})


@tenant_member_required()
def server_detail(request: HttpRequest, config_id: uuid.UUID) -> HttpResponse:
    config = _config_or_404(config_id)
    slug = request.tenant.slug  # type: ignore[attr-defined]
    builder = builder_from_config(config, [m.connection for m in config.mappings.all()])
    exposed = config_exposed_tools(config)
    return render_page(
        request,
        "dashboard/servers/detail.html",
        "servers",
        {
            "config": config,
            "builder": builder,
            "exposed": exposed,
            "mcp_url": mcp_server_url(tenant_slug=slug, config=config),
            "snippets": server_snippets(
                tenant_slug=slug,
                config_id=str(config.pk),
                name=config.name,
                tool=exposed[0].exposed_name if exposed else "TOOL_NAME",
                input_schema=exposed[0].definition.get("inputSchema") if exposed else None,
            ),
            "active_tokens": session_tokens_for_config(config=config, active=True).count(),
        },
    )


@tenant_member_required()
def server_activity(request: HttpRequest, config_id: uuid.UUID) -> HttpResponse:
    """The overview's figures, chart and top lists for this one server."""
    config = _config_or_404(config_id)
    return render_page(
        request,
        "dashboard/servers/activity.html",
        "servers",
        {
            "config": config,
            "activity": activity(period=period_for(request.GET.get("period")), config_id=config.pk),
            "periods": PERIODS.values(),
            "audit_query": f"server={config.pk}",
        },
    )


@tenant_member_required(write=True)
def server_delete(request: HttpRequest, config_id: uuid.UUID) -> HttpResponse:
    config = _config_or_404(config_id)
    if not confirmed(request):
        return confirm_page(
            request,
            title="Delete virtual server",
            question=f"Delete the virtual server “{config.name}”?",
            consequence="Its MCP URL stops working and every session token minted for it is "
            "revoked. Agents using it fail on their next call.",
            action="Delete server",
            cancel_url=_server_url(request, config),
            section="servers",
        )
    mcp_config_delete(config=config, actor=actor_of(request))
    messages.success(request, f"Virtual server “{config.name}” deleted.")
    return redirect("dashboard:servers", tenant=request.tenant.slug)  # type: ignore[attr-defined]
