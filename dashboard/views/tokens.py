"""Session tokens: the live ones per server and end user; revoke one, or all of a user's."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from configs.selectors_mcp import (
    mcp_config_get,
    mcp_config_list,
    session_token_get,
    session_tokens_for_config,
)
from configs.services.tokens import session_token_revoke, session_tokens_revoke_for_identifier
from tenants.access import tenant_member_required
from vmcp_platform.errors import NotFound

from ._common import actor_of, confirm_page, confirmed, render_page


class TokenFilterForm(forms.Form):
    server = forms.ChoiceField(required=False, label="Virtual server")
    identifier = forms.CharField(required=False, label="End user")
    include_inactive = forms.BooleanField(required=False, label="Show expired and revoked")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].choices = [
            ("", "Every server"),
            *((str(c.pk), c.name) for c in mcp_config_list()),
        ]


def _tokens_url(request: HttpRequest) -> str:
    return reverse("dashboard:tokens", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


@tenant_member_required()
def token_list(request: HttpRequest) -> HttpResponse:
    filters = TokenFilterForm(request.GET)
    groups = []
    if filters.is_valid():
        data = filters.cleaned_data
        for config in mcp_config_list():
            if data["server"] and str(config.pk) != data["server"]:
                continue
            tokens = session_tokens_for_config(
                config=config,
                identifier=data["identifier"] or None,
                active=None if data["include_inactive"] else True,
            )[:200]
            if tokens:
                groups.append({"config": config, "tokens": list(tokens)})
    return render_page(
        request,
        "dashboard/tokens/list.html",
        "tokens",
        {
            "filters": filters,
            "groups": groups,
            "has_servers": mcp_config_list().exists(),
            "filtered": any(request.GET.values()),
        },
    )


@tenant_member_required(write=True)
def token_revoke(request: HttpRequest, token_id: uuid.UUID) -> HttpResponse:
    try:
        token = session_token_get(token_id=token_id)
    except NotFound:
        raise Http404("No such token.") from None
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke session token",
            question=f"Revoke the token {token.prefix}… of {token.identifier} on "
            f"“{token.config.name}”?",
            consequence="The agent using it fails on its next call.",
            action="Revoke token",
            cancel_url=_tokens_url(request),
            section="tokens",
        )
    session_token_revoke(token=token, actor=actor_of(request))
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect(_tokens_url(request))


@tenant_member_required(write=True)
def tokens_revoke_user(request: HttpRequest) -> HttpResponse:
    """Every live token of one end user on one server."""
    source = request.POST if request.method == "POST" else request.GET
    identifier = source.get("identifier", "")
    try:
        config = mcp_config_get(config_id=source.get("server", ""))
    except NotFound:
        raise Http404("No such virtual server.") from None
    if not identifier:
        raise Http404("No end user given.")
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke all of a user’s tokens",
            question=f"Revoke every live token of {identifier} on “{config.name}”?",
            consequence="Every agent run for this user on this server fails on its next call.",
            action="Revoke all",
            cancel_url=_tokens_url(request),
            hidden={"identifier": identifier, "server": str(config.pk)},
            section="tokens",
        )
    count = session_tokens_revoke_for_identifier(
        config=config, identifier=identifier, actor=actor_of(request)
    )
    messages.success(request, f"{count} token(s) of {identifier} revoked.")
    return redirect(_tokens_url(request))
