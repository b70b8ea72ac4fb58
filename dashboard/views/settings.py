"""Tenant settings, API keys, and (owner only) members and roles."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from tenants.access import tenant_member_required
from tenants.invitations import invitation_create, invitation_revoke, invitations_pending
from tenants.models import Membership
from vmcp_platform.errors import ApplicationError

from ._common import actor_of, confirm_page, confirmed, form_error, render_page


class TenantSettingsForm(forms.Form):
    audit_retention_days = forms.IntegerField(
        label="Audit retention (days)",
        help_text="Audit events older than this are purged every night (1–3650).",
    )
    rate_limit_per_minute = forms.IntegerField(
        label="Tenant rate limit (calls per minute)",
        help_text="Across every virtual server and user of this tenant.",
    )
    user_rate_limit_per_minute = forms.IntegerField(
        label="Per-user rate limit (calls per minute)",
        help_text="Per virtual server and end user, unless the server sets its own.",
    )
    end_user_rate_limit_per_minute = forms.IntegerField(
        label="Per-user rate limit across the tenant (calls per minute)",
        help_text="Per end user, over every virtual server and execute_tool together.",
    )
    store_tool_arguments = forms.BooleanField(
        required=False,
        label="Keep tool arguments in audit events",
        help_text="Sensitive-looking keys are redacted either way.",
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, label="Name", help_text="Where the key is used, e.g. “backend-prod”."
    )


class MemberForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Membership.Role.choices, label="Role")


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    # Admin by default: owners are few on purpose (they manage members).
    role = forms.ChoiceField(
        choices=Membership.Role.choices, initial=Membership.Role.ADMIN, label="Role"
    )


def _settings_url(request: HttpRequest) -> str:
    return reverse("dashboard:settings", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


def _settings_context(request: HttpRequest, **extra: object) -> dict:
    tenant = request.tenant  # type: ignore[attr-defined]
    return {
        "settings_form": TenantSettingsForm(
            initial={name: getattr(tenant, name) for name in TenantSettingsForm.base_fields}
        ),
        "key_form": ApiKeyForm(),
        "api_keys": tenant_selectors.api_keys_for_tenant(tenant=tenant),
        **extra,
    }


@tenant_member_required()
def settings_page(request: HttpRequest) -> HttpResponse:
    return render_page(
        request, "dashboard/settings/page.html", "settings", _settings_context(request)
    )


@tenant_member_required(write=True)
def settings_update(request: HttpRequest) -> HttpResponse:
    form = TenantSettingsForm(request.POST)
    if form.is_valid():
        try:
            tenant_services.tenant_settings_update(
                tenant=request.tenant,  # type: ignore[attr-defined]
                actor=actor_of(request),
                **form.cleaned_data,
            )
        except ApplicationError as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect(_settings_url(request))
    context = _settings_context(request, settings_form=form)
    return render_page(request, "dashboard/settings/page.html", "settings", context, status=400)


@tenant_member_required(write=True)
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    created = None
    if form.is_valid():
        try:
            created = tenant_services.api_key_create(
                tenant=request.tenant,  # type: ignore[attr-defined]
                name=form.cleaned_data["name"],
                created_by=actor_of(request),
            )
        except ApplicationError as exc:
            form_error(form, exc)
    # The secret is rendered into this one response and never again.
    context = _settings_context(request, key_form=form if created is None else ApiKeyForm())
    context["created_key"] = created
    status = 200 if created else 400
    return render_page(request, "dashboard/settings/page.html", "settings", context, status=status)


@tenant_member_required(write=True)
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    key = tenant_selectors.api_keys_for_tenant(tenant=tenant).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such API key.")
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke API key",
            question=f"Revoke the API key “{key.name}” ({key.prefix}…)?",
            consequence="Every request made with it fails from now on. This cannot be undone.",
            action="Revoke key",
            cancel_url=_settings_url(request),
            section="settings",
        )
    tenant_services.api_key_revoke(tenant=tenant, api_key_id=key.pk, revoked_by=actor_of(request))
    messages.success(request, f"API key “{key.name}” revoked.")
    return redirect(_settings_url(request))


# ---------------------------------------------------------------- members (owner only)

OWNER = [Membership.Role.OWNER]


def _members_url(request: HttpRequest) -> str:
    return reverse("dashboard:members", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


@tenant_member_required(roles=OWNER)
def members(request: HttpRequest) -> HttpResponse:
    """The members table (role changes) and invitations by link (the way in for someone new)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    inviting = request.method == "POST" and request.POST.get("action") == "invite"
    form = MemberForm(request.POST if request.method == "POST" and not inviting else None)
    invite_form = InviteForm(request.POST if inviting else None)
    created = None
    role_error = ""
    status = 200
    if inviting and invite_form.is_valid():
        try:
            created = invitation_create(
                tenant=tenant,
                email=invite_form.cleaned_data["email"],
                role=invite_form.cleaned_data["role"],
                actor=actor_of(request),
            )
        except ApplicationError as exc:
            form_error(invite_form, exc)
        else:
            invite_form = InviteForm()
    elif request.method == "POST" and not inviting and form.is_valid():
        try:
            tenant_services.membership_change(
                tenant=tenant,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=actor_of(request),
            )
        except ApplicationError as exc:
            role_error = exc.message
        else:
            messages.success(
                request, f"{form.cleaned_data['email']} is now {form.cleaned_data['role']}."
            )
            return redirect(_members_url(request))
    elif request.method == "POST" and not inviting:
        role_error = " ".join(e for errors in form.errors.values() for e in errors)
    if request.method == "POST" and created is None:
        status = 400
    memberships = list(tenant_selectors.memberships_for_tenant(tenant=tenant))
    owners = sum(1 for m in memberships if m.role == Membership.Role.OWNER)
    return render_page(
        request,
        "dashboard/settings/members.html",
        "members",
        {
            "invite_form": invite_form,
            "created": created,
            "role_error": role_error,
            # The last owner cannot be removed (the service refuses it): offer no button.
            "rows": [
                {"m": m, "removable": m.role != Membership.Role.OWNER or owners > 1}
                for m in memberships
            ],
            "invitations": invitations_pending(tenant=tenant),
            "roles": Membership.Role.choices,
        },
        status=status,
    )


@tenant_member_required(roles=OWNER)
def invitation_revoke_page(request: HttpRequest, invitation_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    invitation = invitations_pending(tenant=tenant).filter(pk=invitation_id).first()
    if invitation is None:
        raise Http404("No such pending invitation.")
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke invitation",
            question=f"Revoke the invitation of {invitation.email}?",
            consequence="The link stops working; you can invite them again later.",
            action="Revoke invitation",
            cancel_url=_members_url(request),
            section="members",
        )
    invitation_revoke(tenant=tenant, invitation_id=invitation.pk, actor=actor_of(request))
    messages.success(request, f"Invitation of {invitation.email} revoked.")
    return redirect(_members_url(request))


@tenant_member_required(roles=OWNER)
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    membership = (
        tenant_selectors.memberships_for_tenant(tenant=tenant).filter(pk=membership_id).first()
    )
    if membership is None:
        raise Http404("No such member.")
    if not confirmed(request):
        return confirm_page(
            request,
            title="Remove member",
            question=f"Remove {membership.user.email} ({membership.role}) from {tenant.name}?",
            consequence="They lose access to this tenant's dashboard at once.",
            action="Remove member",
            cancel_url=_members_url(request),
            section="members",
        )
    try:
        tenant_services.membership_remove(
            tenant=tenant, membership_id=membership.pk, actor=actor_of(request)
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.email} removed.")
    return redirect(_members_url(request))
