"""Bring-your-own API on the dashboard: import an OpenAPI document as a connection, see its
operations (and what was skipped, and why), tick tools into a new virtual server with the
builder's token estimate, and re-import a changed document after seeing the diff.

The re-import is two requests: the preview renders the diff and carries the document it was
computed from, signed (and compressed), in the Apply form; Apply imports exactly that document,
so what takes effect is what the admin saw. Nothing is stored in between.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from configs.models import Connection
from configs.selectors import connection_get, connection_redirect_uri, connection_tools
from configs.services import connections as services
from configs.services.connections.openapi import openapi_fetch_document
from configs.services.connections.reimport import openapi_preview
from configs.services.mcp_configs import mcp_config_create
from connectors.openapi import OPENAPI_CONNECTOR, PLAN_KEY
from connectors.openapi.loader import InvalidDocument, max_document_bytes
from dashboard.builder import Builder, builder_from_post
from dashboard.catalog import estimate_tokens
from tenants.access import tenant_member_required
from vmcp_platform.errors import ApplicationError, NotFound

from ._common import actor_of, form_error, render_page

A = Connection.AuthType
PAYLOAD_SALT = "dashboard.openapi.reimport"
PAYLOAD_MAX_AGE_SECONDS = 3600


class DocumentFields(forms.Form):
    document_file = forms.FileField(
        required=False, label="Document file", help_text="OpenAPI 3.0 or 3.1, JSON or YAML."
    )
    document_url = forms.CharField(
        required=False,
        max_length=2000,
        label="…or its URL",
        help_text="Fetched once, now, through the same guard as every outbound request.",
    )
    server_url = forms.CharField(
        required=False,
        max_length=2000,
        label="Server URL",
        help_text="Empty: the document's first server.",
    )

    def document_settings(self) -> dict[str, str]:
        """The document as import settings: its text and, when fetched, the URL it came from
        (kept on the connection as the REST API keeps it; not fetched again on Apply)."""
        settings = {"document": self.document_text()}
        url = (self.cleaned_data.get("document_url") or "").strip()
        if url:
            settings["document_url"] = url
        return settings

    def document_text(self) -> str:
        """The uploaded or fetched document; raises ``ApplicationError`` (shown on the form)."""
        upload = self.cleaned_data.get("document_file")
        url = (self.cleaned_data.get("document_url") or "").strip()
        if bool(upload) == bool(url):
            raise InvalidDocument(
                "Upload a document or give its URL (one of the two).",
                details={"field": "document_file"},
            )
        limit = max_document_bytes()
        if upload:
            if upload.size > limit:
                raise InvalidDocument(
                    f"The OpenAPI document is {upload.size} bytes; at most {limit} are accepted.",
                    details={"field": "document_file"},
                )
            raw = upload.read(limit + 1)
        else:
            raw = openapi_fetch_document(url)
        return raw.decode("utf-8", errors="replace")


class ImportForm(DocumentFields):
    name = forms.CharField(
        max_length=100,
        help_text="Also the prefix of every tool's name, e.g. “crm” → crm_list_contacts.",
    )
    auth_type = forms.ChoiceField(
        choices=[
            (A.API_KEY, "api_key — each user pastes their own key"),
            (A.OAUTH2, "oauth2 — each user signs in (the document's authorizationCode flow)"),
            (A.SHARED_HEADER, "shared_header — one credential for everybody"),
            (A.NONE, "none — the API needs no credential"),
        ],
        label="Authentication",
    )
    security_scheme = forms.CharField(
        required=False,
        max_length=100,
        help_text="The securitySchemes entry to use; empty: the first one that fits.",
    )
    client_id = forms.CharField(required=False, max_length=500, label="OAuth client id")
    client_secret = forms.CharField(
        required=False,
        max_length=8192,
        label="OAuth client secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Kept in the vault; never shown again.",
    )
    shared_credential = forms.CharField(
        required=False,
        max_length=8192,
        label="Shared credential",
        widget=forms.PasswordInput(render_value=False),
        help_text="The key or token sent for everybody (shared_header).",
    )
    field_order = ["name", "document_file", "document_url", "server_url", "auth_type"]


class ReimportForm(DocumentFields):
    pass


class ServerFromToolsForm(forms.Form):
    server_name = forms.CharField(
        max_length=100,
        label="New virtual server",
        help_text="Its name; it gets the tools ticked below.",
    )


def _openapi_or_404(name: str) -> Connection:
    try:
        connection = connection_get(name=name)
    except NotFound:
        raise Http404("No such connection.") from None
    if connection.connector != OPENAPI_CONNECTOR:
        raise Http404("Not an openapi connection.")
    return connection


def _operations_url(request: HttpRequest, name: str) -> str:
    slug = request.tenant.slug  # type: ignore[attr-defined]
    return reverse("dashboard:openapi-operations", kwargs={"tenant": slug, "name": name})


@tenant_member_required(write=True)
def openapi_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            settings: dict[str, Any] = form.document_settings()
            for key in ("server_url", "security_scheme", "client_id"):
                if data.get(key):
                    settings[key] = data[key].strip()
            secrets = {}
            if data["auth_type"] == A.OAUTH2 and data.get("client_secret"):
                secrets["client_secret"] = data["client_secret"]
            if data["auth_type"] == A.SHARED_HEADER and data.get("shared_credential"):
                secrets["shared_credential"] = data["shared_credential"]
            connection = services.connection_create(
                name=data["name"],
                connector=OPENAPI_CONNECTOR,
                auth_type=data["auth_type"],
                settings=settings,
                secrets=secrets or None,
                actor=actor_of(request),
            )
        except ApplicationError as exc:
            form_error(form, exc)
        else:
            messages.success(
                request, f"Imported {len(connection.tools or [])} operations as tools."
            )
            return redirect(_operations_url(request, connection.name))
    return render_page(
        request,
        "dashboard/openapi/import.html",
        "connections",
        {"form": form, "redirect_uri": connection_redirect_uri()},
        status=400 if form.errors else 200,
    )


def _operation_rows(connection: Connection) -> list[dict[str, Any]]:
    public = {t["name"]: t for t in connection_tools(connection)}
    rows = []
    for stored in connection.tools or []:
        plan = stored.get(PLAN_KEY) or {}
        hints = stored.get("annotations") or {}
        rows.append(
            {
                "name": stored["name"],
                "method": plan.get("method", ""),
                "path": plan.get("path", ""),
                "read_only": bool(hints.get("readOnlyHint")),
                "destructive": bool(hints.get("destructiveHint")),
                "tokens": estimate_tokens(public[stored["name"]]),
            }
        )
    return rows


def _operations_page(
    request: HttpRequest,
    connection: Connection,
    form: ServerFromToolsForm,
    builder: Builder,
    status: int = 200,
) -> HttpResponse:
    changes = connection.tools_changes or {}
    return render_page(
        request,
        "dashboard/openapi/operations.html",
        "connections",
        {
            "connection": connection,
            "info": (connection.settings or {}).get("document_info") or {},
            # Each operation beside its builder row (ticked state, description).
            "operations": list(
                zip(_operation_rows(connection), builder.panels[0].rows, strict=True)
            ),
            "skipped": changes.get("skipped") or [],
            "changes": changes,
            "form": form,
            "builder": builder,
            "panel": builder.panels[0],
        },
        status=status,
    )


@tenant_member_required()
def openapi_operations(request: HttpRequest, name: str) -> HttpResponse:
    """The imported operations, what was skipped and why; tick tools into a new server."""
    connection = _openapi_or_404(name)
    if request.method == "POST":
        if not request.membership.can_write:  # type: ignore[attr-defined]
            raise Http404("Not yours to change.")
        form = ServerFromToolsForm(request.POST)
        builder = builder_from_post(request.POST, [connection])
        if not builder.included:
            form.add_error(None, "Tick at least one tool, or “all tools”.")
        elif form.is_valid():
            try:
                config = mcp_config_create(
                    name=form.cleaned_data["server_name"],
                    mappings=builder.mappings(),
                    actor=actor_of(request),
                )
            except ApplicationError as exc:
                form_error(form, ApplicationError(exc.message, details={"field": "server_name"}))
            else:
                messages.success(request, f"Virtual server “{config.name}” created.")
                slug = request.tenant.slug  # type: ignore[attr-defined]
                return redirect(
                    reverse("dashboard:server", kwargs={"tenant": slug, "config_id": config.pk})
                )
        return _operations_page(request, connection, form, builder, status=400)
    return _operations_page(
        request, connection, ServerFromToolsForm(), builder_from_post(_NoData(), [connection])
    )


class _NoData(dict):
    """An empty QueryDict stand-in: nothing ticked yet."""

    def getlist(self, key: str) -> list[str]:
        return []


@tenant_member_required(write=True)
def openapi_reimport(request: HttpRequest, name: str) -> HttpResponse:
    """Upload or fetch a changed document → the diff; nothing changes until Apply."""
    connection = _openapi_or_404(name)
    form = ReimportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            settings = form.document_settings()
            if form.cleaned_data.get("server_url"):
                settings["server_url"] = form.cleaned_data["server_url"].strip()
            preview = openapi_preview(connection=connection, settings=settings)
        except ApplicationError as exc:
            form_error(form, exc)
        else:
            payload = signing.dumps(
                {"for": _preview_binding(request, connection), "settings": settings},
                salt=PAYLOAD_SALT,
                compress=True,
            )
            return _preview_page(request, connection, preview, payload)
    return render_page(
        request,
        "dashboard/openapi/reimport.html",
        "connections",
        {"connection": connection, "form": form},
        status=400 if form.errors else 200,
    )


def _preview_binding(request: HttpRequest, connection: Connection) -> list[str]:
    """What a preview is valid for: this tenant's connection, as it was when previewed (a
    change in between, e.g. another admin's re-import, would make the diff shown wrong)."""
    tenant = request.tenant.slug  # type: ignore[attr-defined]
    return [tenant, connection.name, connection.updated_at.isoformat()]


def _preview_page(
    request: HttpRequest,
    connection: Connection,
    preview: dict[str, Any],
    payload: str,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    move = preview.get("credential_move") or {}
    fields = move.get("fields") or []
    return render_page(
        request,
        "dashboard/openapi/preview.html",
        "connections",
        {
            "connection": connection,
            "preview": preview,
            "payload": payload,
            "error": error,
            "move_from": ", ".join(str(move["from"][f]) for f in fields),
            "move_to": ", ".join(str(move["to"][f]) for f in fields),
        },
        status=status,
    )


@tenant_member_required(write=True)
def openapi_reimport_apply(request: HttpRequest, name: str) -> HttpResponse:
    """Apply exactly the previewed document (signed into the form by the preview)."""
    connection = _openapi_or_404(name)
    if request.method != "POST":
        return redirect(_operations_url(request, name))
    try:
        signed = signing.loads(
            request.POST.get("payload", ""),
            salt=PAYLOAD_SALT,
            max_age=PAYLOAD_MAX_AGE_SECONDS,
        )
        if signed.get("for") != _preview_binding(request, connection):
            raise signing.BadSignature("another connection, or it changed since the preview")
        settings = signed["settings"]
    except signing.BadSignature:
        messages.error(
            request,
            "This preview expired, was altered, or the connection changed since; "
            "preview the document again.",
        )
        slug = request.tenant.slug  # type: ignore[attr-defined]
        again = reverse("dashboard:openapi-reimport", kwargs={"tenant": slug, "name": name})
        return redirect(again)
    try:
        services.connection_update(
            connection=connection,
            settings=settings,
            actor=actor_of(request),
            confirm_credential_move=request.POST.get("confirm_credential_move") == "yes",
        )
    except ApplicationError as exc:
        # E.g. the credentials would move and that was not confirmed: the same preview, again.
        preview = openapi_preview(connection=connection, settings=settings)
        return _preview_page(
            request, connection, preview, request.POST["payload"], error=exc.message, status=409
        )
    connection.refresh_from_db()
    changes = connection.tools_changes or {}
    messages.success(
        request,
        f"Re-imported: {len(changes.get('added', []))} added, "
        f"{len(changes.get('removed', []))} removed, {len(changes.get('changed', []))} changed.",
    )
    return redirect(_operations_url(request, name))


class SettingsForm(forms.Form):
    """What an admin may change on an openapi connection without a new document."""

    server_url = forms.CharField(max_length=2000, label="Server URL")
    client_id = forms.CharField(required=False, max_length=500, label="OAuth client id")
    scopes = forms.CharField(
        required=False,
        max_length=5000,
        help_text="Space-separated; empty: the scopes the document's operations require.",
    )
    client_secret = forms.CharField(
        required=False,
        max_length=8192,
        label="OAuth client secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored secret.",
    )
    shared_credential = forms.CharField(
        required=False,
        max_length=8192,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored value.",
    )
    confirm_credential_move = forms.BooleanField(
        required=False,
        label="Send the stored credentials to the new host (it is the same API)",
    )


@tenant_member_required(write=True)
def openapi_settings(request: HttpRequest, name: str) -> HttpResponse:
    """Server URL, OAuth client and the shared credential; a move of stored credentials to
    another host needs the confirmation box (``reimport.credential_move`` says why)."""
    connection = _openapi_or_404(name)
    current = connection.settings or {}
    initial = {
        "server_url": current.get("server_url", ""),
        "client_id": current.get("client_id", ""),
        "scopes": " ".join(current.get("scopes") or []),
    }
    form = SettingsForm(request.POST or None, initial=initial)
    oauth = connection.auth_type == A.OAUTH2
    if not oauth:
        for key in ("client_id", "scopes", "client_secret"):
            del form.fields[key]
    if connection.auth_type != A.SHARED_HEADER:
        del form.fields["shared_credential"]
    moving = False
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        settings: dict[str, Any] = {"server_url": data["server_url"].strip()}
        if oauth:
            settings["client_id"] = data["client_id"].strip()
            settings["scopes"] = data["scopes"].split() or None
        secrets = {
            key: data[key] for key in ("client_secret", "shared_credential") if data.get(key)
        }
        try:
            services.connection_update(
                connection=connection,
                settings=settings,
                secrets=secrets or None,
                actor=actor_of(request),
                confirm_credential_move=data["confirm_credential_move"],
            )
        except ApplicationError as exc:
            moving = exc.code == "credentials_would_move"
            form_error(form, exc)
        else:
            messages.success(request, f"Connection “{connection.name}” saved.")
            slug = request.tenant.slug  # type: ignore[attr-defined]
            return redirect(reverse("dashboard:connection", kwargs={"tenant": slug, "name": name}))
    return render_page(
        request,
        "dashboard/openapi/settings.html",
        "connections",
        {
            "connection": connection,
            "form": form,
            "moving": moving,
            "redirect_uri": connection_redirect_uri(),
        },
        status=400 if form.errors else 200,
    )
