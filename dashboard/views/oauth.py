"""Interactive sign-in: the tenant's identity source and OAuth policy, and the grants its end
users gave MCP clients (revoke one, or all of one user's)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from gateway.oauth.apis import settings_body
from gateway.oauth.grants import grant_revoke, grants_revoke_for_identifier
from gateway.oauth.policy import SettingsChange, oauth_settings_update
from gateway.oauth.selectors import oauth_grant_get, oauth_grant_list
from tenants.access import tenant_member_required
from vmcp_platform.errors import ApplicationError

from ._common import actor_of, confirm_page, confirmed, form_error, render_page

TEMPLATE = "dashboard/settings/oauth.html"


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


class OAuthSettingsForm(forms.Form):
    idp_issuer = forms.CharField(
        required=False,
        max_length=500,
        label="OpenID provider issuer URL",
        help_text="e.g. https://accounts.google.com or your Okta/Entra/Keycloak issuer. Empty: "
        "no interactive sign-in (tokens only from your backend).",
    )
    idp_client_id = forms.CharField(required=False, max_length=255, label="Client ID")
    idp_client_secret = forms.CharField(
        required=False,
        max_length=2000,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False),
        help_text="Kept encrypted in the vault, never shown. Leave empty to keep the current one.",
    )
    idp_identifier_claim = forms.CharField(
        max_length=64, label="Claim used as the identifier", initial="email"
    )
    idp_allowed_email_domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Allowed e-mail domains",
        help_text="One per line; empty allows any.",
    )
    cimd_enabled = forms.BooleanField(required=False, label="Accept Client ID Metadata Documents")
    dcr_enabled = forms.BooleanField(required=False, label="Accept Dynamic Client Registration")
    redirect_uri_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Allowed redirect URI patterns",
        help_text="One per line, * as wildcard; empty: loopback (any port) and any https URL.",
    )
    client_domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Allowed client domains (CIMD)",
        help_text="Hosts such as claude.ai or *.example.com, one per line; empty allows any.",
    )
    access_token_seconds = forms.IntegerField(label="Access token lifetime (seconds)")
    refresh_token_days = forms.IntegerField(label="Refresh token lifetime (days)")

    def change(self) -> SettingsChange:
        data = dict(self.cleaned_data)
        secret = data.pop("idp_client_secret") or None
        for name in ("idp_allowed_email_domains", "redirect_uri_patterns", "client_domains"):
            data[name] = _lines(data[name])
        return SettingsChange(fields=data, client_secret=secret)


def _url(request: HttpRequest) -> str:
    return reverse("dashboard:oauth", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


def _context(request: HttpRequest, form: OAuthSettingsForm | None = None) -> dict:
    current = settings_body(request.tenant.slug)  # type: ignore[attr-defined]
    if form is None:
        initial = dict(current)
        for name in ("idp_allowed_email_domains", "redirect_uri_patterns", "client_domains"):
            initial[name] = "\n".join(current[name])
        form = OAuthSettingsForm(initial=initial)
    identifier = (request.GET.get("identifier") or "").strip()[:255]
    return {
        "form": form,
        "current": current,
        "identifier": identifier,
        "grants": list(oauth_grant_list(identifier=identifier or None)[:200]),
    }


@tenant_member_required()
def oauth_page(request: HttpRequest) -> HttpResponse:
    return render_page(request, TEMPLATE, "settings", _context(request))


@tenant_member_required(write=True)
def oauth_update(request: HttpRequest) -> HttpResponse:
    form = OAuthSettingsForm(request.POST)
    if form.is_valid():
        try:
            oauth_settings_update(change=form.change(), actor=actor_of(request))
        except ApplicationError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Sign-in settings saved.")
            return redirect(_url(request))
    return render_page(request, TEMPLATE, "settings", _context(request, form), status=400)


@tenant_member_required(write=True)
def oauth_grant_revoke(request: HttpRequest, grant_id: int) -> HttpResponse:
    try:
        grant = oauth_grant_get(grant_id=grant_id)
    except ApplicationError:
        raise Http404("No such grant.") from None
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke access",
            question=f"Revoke {grant.client.client_name or grant.client.client_id}'s access to "
            f"{grant.config.name} for {grant.identifier}?",
            consequence="Its tokens stop working on the next request; the user can sign in again.",
            action="Revoke",
            cancel_url=_url(request),
            section="settings",
        )
    grant_revoke(grant=grant, actor=actor_of(request))
    messages.success(request, "Access revoked.")
    return redirect(_url(request))


@tenant_member_required(write=True)
def oauth_grants_revoke_user(request: HttpRequest) -> HttpResponse:
    identifier = (request.POST.get("identifier") or "").strip()[:255]
    if not identifier:
        messages.error(request, "Name the user whose access to revoke.")
        return redirect(_url(request))
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke all access",
            question=f"Revoke every client's access for {identifier}?",
            consequence="All their OAuth tokens stop working on the next request.",
            action="Revoke all",
            cancel_url=_url(request),
            hidden={"identifier": identifier},
            section="settings",
        )
    count = grants_revoke_for_identifier(identifier=identifier, actor=actor_of(request))
    messages.success(request, f"Revoked {count} grant(s) of {identifier}.")
    return redirect(_url(request))
