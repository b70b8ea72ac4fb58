"""A virtual server's playground: act as one end user before any agent does.

Pick an identifier; see whether they are ready (an active account on each connection that
needs one) with connect links to send; mint a short test token for your own MCP client; see
the tools exactly as the agent will list them; run one with a form made from its schema. Every
call goes through the same execution path as an agent's and is audited with the dashboard
user as actor and the chosen end user as identifier. Owners and admins only: it acts.
"""

from __future__ import annotations

import uuid
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.http import HttpRequest, HttpResponse

from accounts.selectors import account_list
from accounts.services.sessions import config_readiness, session_token_mint
from configs.models import McpConfig
from configs.selectors_mcp import mcp_server_url
from configs.tools import ExposedTool, config_exposed_tools
from dashboard.playground import ToolArgumentsForm, result_text
from gateway.execution import tool_execute
from tenants.access import tenant_member_required
from vmcp_platform.errors import ApplicationError

from ._common import actor_of, render_page
from .servers import _config_or_404

TEST_TOKEN_SECONDS = 300


class IdentifierForm(forms.Form):
    identifier = forms.CharField(
        max_length=255,
        widget=forms.TextInput(attrs={"list": "known-identifiers", "autocomplete": "off"}),
        label="End user",
        help_text="The identifier your backend mints tokens for (e-mail, user id).",
    )


def _known_identifiers(limit: int = 50) -> list[str]:
    """End users with a connected account, offered as suggestions (any identifier works)."""
    rows = account_list().order_by().values_list("identifier", flat=True).distinct()
    return sorted(rows[:limit])


def _tool(exposed: list[ExposedTool], name: str) -> ExposedTool | None:
    return next((t for t in exposed if t.exposed_name == name), None)


@tenant_member_required(write=True)
def server_playground(request: HttpRequest, config_id: uuid.UUID) -> HttpResponse:
    config = _config_or_404(config_id)
    data = request.POST if request.method == "POST" else request.GET
    who = IdentifierForm(data if data.get("identifier") is not None else None)
    exposed = config_exposed_tools(config)
    context: dict[str, Any] = {
        "config": config,
        "who": who,
        "exposed": exposed,
        "known": _known_identifiers(),
        "status": 200,
    }
    if who.is_bound and who.is_valid():
        identifier = who.cleaned_data["identifier"]
        action = request.POST.get("action") if request.method == "POST" else ""
        try:
            context.update(_act(request, config, identifier, action, exposed, data))
        except ApplicationError as exc:
            context.update(error=exc.message, status=exc.status)
    return render_page(
        request,
        "dashboard/servers/playground.html",
        "servers",
        context,
        status=context.pop("status"),
    )


def _act(
    request: HttpRequest,
    config: McpConfig,
    identifier: str,
    action: str | None,
    exposed: list[ExposedTool],
    data: Any,
) -> dict[str, Any]:
    actor = actor_of(request)
    out: dict[str, Any] = {"identifier": identifier}
    # Connect links are created (and audited) only when asked for.
    readiness = config_readiness(
        config=config, identifier=identifier, include_auth_link=action == "links", actor=actor
    )
    out["readiness"] = readiness
    if action == "mint":
        minted = session_token_mint(
            config=config, identifier=identifier, expiry_seconds=TEST_TOKEN_SECONDS, actor=actor
        )
        out["minted"] = minted
        out["mcp_url"] = mcp_server_url(tenant_slug=request.tenant.slug, config=config)  # type: ignore[attr-defined]
    tool = _tool(exposed, data.get("tool", ""))
    if tool is not None:
        schema = tool.definition.get("inputSchema") or {}
        form = ToolArgumentsForm(schema, data if action == "run" else None)
        out.update(tool=tool, tool_form=form)
        if action == "run" and form.is_valid():
            out["run"] = _run(request, config, identifier, tool, form.arguments())
            out["run_arguments"] = form.arguments()
        elif action == "run":
            out["status"] = 400
    return out


def _run(
    request: HttpRequest,
    config: McpConfig,
    identifier: str,
    tool: ExposedTool,
    arguments: dict[str, Any],
) -> dict[str, Any]:
    """The call an agent with this user's token would make, through the same execution path.

    A refusal (no account, rate limited, arguments the schema rejects) is shown like a result:
    it is what the agent would have been told, and it is audited as ``tool.denied``.
    """
    try:
        executed = async_to_sync(tool_execute)(
            tenant=request.tenant,  # type: ignore[attr-defined]
            connection_name=tool.connection.name,
            tool_name=tool.tool_name,
            identifier=identifier,
            arguments=arguments,
            actor=actor_of(request),
            config_id=config.pk,
            exposed_name=tool.exposed_name,
            agent_run_id="dashboard-playground",
        )
    except ApplicationError as exc:
        return {"is_error": True, "denied": True, "code": exc.code, "text": exc.message}
    return {
        "execution_id": executed.execution_id,
        "is_error": executed.result.is_error,
        "code": executed.error_code,
        "text": result_text(executed.result.content),
        "latency_ms": executed.latency_ms,
    }
