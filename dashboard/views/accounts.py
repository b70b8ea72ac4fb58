"""Connected accounts: search and filter, revoke, and connect links to send to end users."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.selectors import account_get, account_list
from accounts.services import (
    account_get_or_create,
    account_revoke,
    connect_link_create,
    end_user_revoke,
)
from configs.models import Connection
from configs.selectors import connection_list
from tenants.access import tenant_member_required
from vault.models import ConnectedAccount
from vmcp_platform.errors import ApplicationError, NotFound

from ._common import actor_of, confirm_page, confirmed, form_error, render_page

PAGE_SIZE = 50


class AccountFilterForm(forms.Form):
    identifier = forms.CharField(required=False, label="End user")
    connection = forms.ChoiceField(required=False, label="Connection")
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *ConnectedAccount.Status.choices],
        label="Status",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        names = connection_list().values_list("name", flat=True)
        self.fields["connection"].choices = [("", "Any connection"), *((n, n) for n in names)]


class ConnectLinkForm(forms.Form):
    connection = forms.ChoiceField(label="Connection")
    identifier = forms.CharField(
        max_length=255,
        label="End user identifier",
        help_text="Your own id for the user (e-mail, user id); the same one you mint tokens for.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].choices = [
            (c.name, f"{c.name} ({c.connector})") for c in connections_needing_accounts()
        ]


def connections_needing_accounts() -> list[Connection]:
    return [c for c in connection_list() if c.needs_user_credentials]


def _accounts_url(request: HttpRequest) -> str:
    return reverse("dashboard:accounts", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


@tenant_member_required()
def account_list_page(request: HttpRequest) -> HttpResponse:
    filters = AccountFilterForm(request.GET)
    accounts = ConnectedAccount.objects.none()
    if filters.is_valid():
        accounts = account_list(
            identifier=filters.cleaned_data["identifier"] or None,
            connection_name=filters.cleaned_data["connection"] or None,
            status=filters.cleaned_data["status"] or None,
        )
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    template = (
        "dashboard/accounts/_results.html" if request.htmx else "dashboard/accounts/list.html"
    )  # type: ignore[attr-defined]
    return render_page(
        request,
        template,
        "accounts",
        {
            "filters": filters,
            "page": page,
            "filtered": any(v for k, v in request.GET.items() if k != "page"),
            "link_form": ConnectLinkForm(),
            "can_link": bool(connections_needing_accounts()),
            "magic_link_path": reverse(
                "magic-link",
                kwargs={"tenant": request.tenant.slug},  # type: ignore[attr-defined]
            ),
        },
    )


@tenant_member_required(write=True)
def connect_link_new(request: HttpRequest) -> HttpResponse:
    form = ConnectLinkForm(request.POST or None, initial=request.GET.dict() or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            connection = next(
                c for c in connection_list() if c.name == form.cleaned_data["connection"]
            )
            account = account_get_or_create(
                connection=connection,
                identifier=form.cleaned_data["identifier"],
                actor=actor_of(request),
            )
            created = connect_link_create(account=account, actor=actor_of(request))
        except ApplicationError as exc:
            form_error(form, exc)
    status = 400 if request.method == "POST" and created is None else 200
    return render_page(
        request,
        "dashboard/accounts/link.html",
        "accounts",
        {"form": form, "created": created, "can_link": bool(form.fields["connection"].choices)},
        status=status,
    )


@tenant_member_required(write=True)
def account_revoke_page(request: HttpRequest, account_id: int) -> HttpResponse:
    try:
        account = account_get(account_id=account_id)
    except NotFound:
        raise Http404("No such account.") from None
    if not confirmed(request):
        return confirm_page(
            request,
            title="Revoke connected account",
            question=f"Revoke {account.identifier}’s account on {account.connection.name}?",
            consequence="Their stored credential is deleted (and revoked at the provider where "
            "possible). Their next tool call through this connection fails until they connect "
            "again. Other users are not affected.",
            action="Revoke account",
            cancel_url=_accounts_url(request),
            section="accounts",
        )
    account_revoke(account=account, actor=actor_of(request))
    messages.success(request, f"{account.identifier}’s {account.connection.name} account revoked.")
    return redirect(_accounts_url(request))


@tenant_member_required(write=True)
def end_user_end_page(request: HttpRequest) -> HttpResponse:
    """ "End this user": every session token on every server, optionally their accounts."""
    source = request.POST if request.method == "POST" else request.GET
    identifier = source.get("identifier", "")
    with_accounts = source.get("connected_accounts") in {"on", "true", "yes"}
    if not identifier:
        messages.error(request, "Name the end user to end.")
        return redirect(_accounts_url(request))
    if not confirmed(request):
        consequence = (
            "Every live session token of theirs is revoked on every virtual server, and their "
            "open agent sessions end."
        )
        if with_accounts:
            consequence += (
                " Their connected accounts are revoked too (and at the provider where "
                "possible): they must connect again before any tool call."
            )
        hidden = {"identifier": identifier}
        if with_accounts:
            hidden["connected_accounts"] = "on"
        return confirm_page(
            request,
            title="End this user",
            question=f"End {identifier} on every server of this tenant?",
            consequence=consequence,
            action="End user",
            cancel_url=_accounts_url(request),
            hidden=hidden,
            section="accounts",
        )
    try:
        result = end_user_revoke(
            identifier=identifier, connected_accounts=with_accounts, actor=actor_of(request)
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(_accounts_url(request))
    messages.success(
        request,
        f"{identifier} ended: {result.revoked_tokens} token(s) on {result.servers} server(s)"
        f" and {result.revoked_accounts} connected account(s) revoked.",
    )
    return redirect(_accounts_url(request))
