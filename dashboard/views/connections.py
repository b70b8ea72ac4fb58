"""Connections: list, create, edit (secrets write-only), delete, and tool sync for upstreams."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from configs.models import Connection
from configs.selectors import (
    MCP_CONNECTOR,
    connection_effective_urls,
    connection_get,
    connection_list,
    connection_redirect_uri,
    connection_secret_status,
    connection_tools,
)
from configs.services import connections as services
from connectors import all_connectors
from dashboard.templatetags.vmcp_extras import AUTH_LABELS
from tenants.access import tenant_member_required
from vmcp_platform.errors import ApplicationError, NotFound

from ._common import actor_of, confirm_page, confirmed, form_error, render_page

URL_FIELDS = ("api_base_url", "authorize_url", "token_url", "revoke_url")


def _connector_choices() -> list[tuple[str, str]]:
    return [
        *((c.slug, f"{c.name} ({c.slug})") for c in all_connectors()),
        (MCP_CONNECTOR, "Upstream MCP server (mcp)"),
    ]


class ConnectionForm(forms.Form):
    """Every setting of every kind of connection; the page shows only the relevant ones."""

    name = forms.CharField(
        max_length=100,
        help_text="How virtual servers and the API refer to it, e.g. “gmail” or “crm-mcp”. "
        "Lower-case letters, digits, '_' and '-'. It cannot be changed later.",
    )
    connector = forms.ChoiceField(
        choices=_connector_choices, widget=forms.Select(attrs={"data-kind-switch": ""})
    )
    auth_type = forms.ChoiceField(
        choices=[
            (value, AUTH_LABELS.get(value, label)) for value, label in Connection.AuthType.choices
        ],
        widget=forms.Select(attrs={"data-kind-switch": ""}),
        label="Authentication",
        help_text="OAuth 2.0: each user signs in to the provider · API key: each user pastes a "
        "key · Shared header: one header for everybody (upstream MCP) · No credential.",
    )
    client_id = forms.CharField(required=False, max_length=500, label="OAuth client id")
    client_secret = forms.CharField(
        required=False,
        label="OAuth client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: stored encrypted, never shown again.",
    )
    scopes = forms.CharField(
        required=False,
        label="Scopes",
        help_text="Separated by spaces; empty means the connector's default scopes.",
    )
    server_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Server URL"
    )
    header_name = forms.CharField(
        required=False,
        max_length=100,
        label="Header name",
        help_text="The header carrying the shared value or each user's key (default "
        "Authorization; a key there is sent as “Bearer <key>”).",
    )
    shared_header = forms.CharField(
        required=False,
        label="Shared header value",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: stored encrypted, never shown again.",
    )
    api_base_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="API base URL"
    )
    authorize_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Authorize URL"
    )
    token_url = forms.URLField(
        required=False, max_length=500, assume_scheme="https", label="Token URL"
    )
    revoke_url = forms.CharField(required=False, max_length=500, label="Revoke URL")
    # Shown only after the service refused a change that sends stored credentials elsewhere.
    confirm_credential_move = forms.BooleanField(
        required=False, label="Send the stored credentials to the new host"
    )

    def payload(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(settings, secrets) for the connections service, from the fields this kind uses."""
        data = self.cleaned_data
        is_mcp = data["connector"] == MCP_CONNECTOR
        settings: dict[str, Any] = {}
        if is_mcp and data["auth_type"] == Connection.AuthType.OAUTH2:
            # An OAuth upstream: an optional pre-registered client and scope override; the
            # rest is discovered from the server.
            settings["server_url"] = data["server_url"] or None
            settings["client_id"] = data["client_id"] or None
            settings["scopes"] = data["scopes"].split() or None
        elif is_mcp:
            settings["server_url"] = data["server_url"] or None
            settings["header_name"] = data["header_name"] or None
        else:
            settings["api_base_url"] = data["api_base_url"] or None
        if not is_mcp and data["auth_type"] == Connection.AuthType.OAUTH2:
            settings["client_id"] = data["client_id"] or None
            settings["scopes"] = data["scopes"].split() or None
            for key in ("authorize_url", "token_url", "revoke_url"):
                settings[key] = data[key] or None
        secrets = {}
        if data["auth_type"] == Connection.AuthType.OAUTH2 and data["client_secret"]:
            secrets["client_secret"] = data["client_secret"]
        if data["auth_type"] == Connection.AuthType.SHARED_HEADER and data["shared_header"]:
            secrets["shared_header"] = data["shared_header"]
        return settings, secrets


def _initial(connection: Connection) -> dict[str, Any]:
    settings = connection.settings or {}
    return {
        "name": connection.name,
        "connector": connection.connector,
        "auth_type": connection.auth_type,
        **{k: v for k, v in settings.items() if k != "scopes"},
        "scopes": " ".join(settings.get("scopes") or []),
    }


def _connection_or_404(name: str) -> Connection:
    try:
        return connection_get(name=name)
    except NotFound:
        raise Http404("No such connection.") from None


def _detail_url(request: HttpRequest, name: str) -> str:
    return reverse(
        "dashboard:connection",
        kwargs={"tenant": request.tenant.slug, "name": name},  # type: ignore[attr-defined]
    )


def _form_page(
    request: HttpRequest,
    form: ConnectionForm,
    connection: Connection | None,
    status: int = 200,
    moving: bool = False,
) -> HttpResponse:
    return render_page(
        request,
        "dashboard/connections/form.html",
        "connections",
        {
            "form": form,
            "connection": connection,
            "redirect_uri": connection_redirect_uri(),
            "secrets": connection_secret_status(connection) if connection else {},
            "moving": moving,
        },
        status=status,
    )


@tenant_member_required()
def connection_list_page(request: HttpRequest) -> HttpResponse:
    rows = [{"connection": c, "tools": len(connection_tools(c))} for c in connection_list()]
    return render_page(request, "dashboard/connections/list.html", "connections", {"rows": rows})


@tenant_member_required()
def connection_detail(request: HttpRequest, name: str) -> HttpResponse:
    connection = _connection_or_404(name)
    return render_page(
        request,
        "dashboard/connections/detail.html",
        "connections",
        {
            "connection": connection,
            "url_rows": _url_rows(connection),
            "secrets": connection_secret_status(connection),
            "tools": connection_tools(connection),
            "redirect_uri": connection_redirect_uri(),
            "is_mcp": connection.connector == MCP_CONNECTOR,
            **_upstream_oauth(connection),
        },
    )


def _default_auth_type(slug: str) -> str:
    """What the catalog's "Add connection" starts with: the connector's own kind of auth."""
    if slug == MCP_CONNECTOR:
        return Connection.AuthType.NONE
    kind = next((c.auth_kind for c in all_connectors() if c.slug == slug), "oauth2")
    return kind if kind in Connection.AuthType.values else Connection.AuthType.OAUTH2


def _url_rows(connection: Connection) -> list[dict[str, Any]]:
    """The URLs in use; "overridden" only where the admin replaced a connector default (a URL
    with no default, like an upstream's server URL, is simply set)."""
    defaults = connection_effective_urls(Connection(connector=connection.connector, settings={}))
    rows = []
    for key, value in connection_effective_urls(connection).items():
        if not value:
            continue
        default = defaults.get(key)
        rows.append(
            {
                "key": key,
                "value": value,
                "default": default,
                "overridden": bool(default) and value != default,
            }
        )
    return rows


UPSTREAM_ACCOUNTS_SHOWN = 200


def _upstream_oauth(connection: Connection) -> dict[str, Any]:
    """An OAuth upstream MCP server: how vmcp is registered there and each user's state."""
    if connection.connector != MCP_CONNECTOR or connection.auth_type != "oauth2":
        return {}
    from accounts.selectors import account_list

    stored = connection.upstream_oauth or {}
    return {
        "upstream_oauth": {
            "discovery": stored.get("discovery") or {},
            "registration": stored.get("registration") or {},
        },
        "upstream_accounts": list(
            account_list(connection_name=connection.name)[:UPSTREAM_ACCOUNTS_SHOWN]
        ),
    }


@tenant_member_required(write=True)
def connection_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        slug = request.GET.get("connector", "")
        initial = {"connector": slug, "auth_type": _default_auth_type(slug)}
        return _form_page(request, ConnectionForm(initial=initial), None)
    form = ConnectionForm(request.POST)
    if form.is_valid():
        settings, secrets = form.payload()
        try:
            connection = services.connection_create(
                name=form.cleaned_data["name"],
                connector=form.cleaned_data["connector"],
                auth_type=form.cleaned_data["auth_type"],
                settings={k: v for k, v in settings.items() if v is not None},
                secrets=secrets,
                actor=actor_of(request),
            )
        except ApplicationError as exc:
            form_error(form, exc)
        else:
            messages.success(request, f"Connection “{connection.name}” created.")
            return redirect(_detail_url(request, connection.name))
    return _form_page(request, form, None, status=400)


@tenant_member_required(write=True)
def connection_edit(request: HttpRequest, name: str) -> HttpResponse:
    connection = _connection_or_404(name)
    initial = _initial(connection)
    if request.method != "POST":
        return _form_page(request, _fixed_kind(ConnectionForm(initial=initial)), connection)
    form = _fixed_kind(ConnectionForm(request.POST, initial=initial))
    moving = False
    if form.is_valid():
        settings, secrets = form.payload()
        try:
            services.connection_update(
                connection=connection,
                settings=settings,
                secrets=secrets,
                actor=actor_of(request),
                confirm_credential_move=form.cleaned_data["confirm_credential_move"],
            )
        except ApplicationError as exc:
            form_error(form, exc)
            moving = exc.code == "credentials_would_move"
        else:
            messages.success(request, f"Connection “{connection.name}” saved.")
            return redirect(_detail_url(request, connection.name))
    return _form_page(request, form, connection, status=400, moving=moving)


def _fixed_kind(form: ConnectionForm) -> ConnectionForm:
    # Virtual servers and accounts refer to these; the service keeps them fixed too.
    for field in ("name", "connector", "auth_type"):
        form.fields[field].disabled = True
    form.fields["name"].help_text = ""
    form.fields["client_secret"].help_text = "Leave empty to keep the stored secret."
    form.fields["shared_header"].help_text = "Leave empty to keep the stored value."
    return form


@tenant_member_required(write=True)
def connection_delete(request: HttpRequest, name: str) -> HttpResponse:
    connection = _connection_or_404(name)
    if not confirmed(request):
        accounts = connection.accounts.count()
        return confirm_page(
            request,
            title="Delete connection",
            question=f"Delete the connection “{connection.name}”?",
            consequence=f"Its {accounts} connected account(s) and their stored credentials are "
            "destroyed, and its tools disappear from every virtual server that uses it.",
            action="Delete connection",
            cancel_url=_detail_url(request, connection.name),
            section="connections",
        )
    services.connection_delete(connection=connection, actor=actor_of(request))
    messages.success(request, f"Connection “{connection.name}” deleted.")
    return redirect("dashboard:connections", tenant=request.tenant.slug)  # type: ignore[attr-defined]


@tenant_member_required(write=True)
def connection_sync(request: HttpRequest, name: str) -> HttpResponse:
    connection = _connection_or_404(name)
    if request.method != "POST":
        return redirect(_detail_url(request, connection.name))
    try:
        tools = services.connection_sync_tools(connection=connection, actor=actor_of(request))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Synced: {len(tools)} tools.")
    return redirect(_detail_url(request, connection.name))
