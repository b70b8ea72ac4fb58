"""Every dashboard page, for every role; what auditors and other tenants can't do; forms.

alice owns acme, bob administers it, audrey audits it (reads only), carol owns globex.
"""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from tests.dashboard.conftest import client_for

BASE = "/t/acme/dashboard"


def read_pages(f) -> list[str]:  # noqa: ANN001
    return [
        f"{BASE}/",
        f"{BASE}/connectors/",
        f"{BASE}/connectors/?q=calendar",
        f"{BASE}/connections/",
        f"{BASE}/connections/gmail/",
        f"{BASE}/connections/demo/",
        f"{BASE}/servers/",
        f"{BASE}/servers/{f.server.pk}/",
        f"{BASE}/accounts/",
        f"{BASE}/accounts/?status=PENDING_AUTH&connection=gmail",
        f"{BASE}/tokens/",
        f"{BASE}/tokens/?include_inactive=on",
        f"{BASE}/audit/",
        f"{BASE}/audit/?outcome=error&tool=demo_echo",
        f"{BASE}/audit/{f.event.pk}/",
        f"{BASE}/audit/export/",
        f"{BASE}/settings/",
    ]


def write_pages(f) -> list[str]:  # noqa: ANN001
    """Forms and confirmation pages: owners and admins only."""
    return [
        f"{BASE}/connections/new/",
        f"{BASE}/connections/gmail/edit/",
        f"{BASE}/connections/gmail/delete/",
        f"{BASE}/servers/new/",
        f"{BASE}/servers/{f.server.pk}/edit/",
        f"{BASE}/servers/{f.server.pk}/delete/",
        f"{BASE}/accounts/link/",
        f"{BASE}/accounts/{f.account.pk}/revoke/",
        f"{BASE}/tokens/{f.token.pk}/revoke/",
        f"{BASE}/tokens/revoke-user/?server={f.demo_server.pk}&identifier=dave@acme.test",
        f"{BASE}/accounts/end-user/?identifier=dave@acme.test&connected_accounts=on",
        f"{BASE}/settings/api-keys/{f.api_key.pk}/revoke/",
    ]


def owner_pages(f, acme) -> list[str]:  # noqa: ANN001
    from tenants.models import Membership

    bob = Membership.objects.get(tenant=acme, user__username="bob@acme.test")
    return [f"{BASE}/settings/members/", f"{BASE}/settings/members/{bob.pk}/remove/"]


def field_error(html: str, field: str) -> str:
    """The error message rendered in the field's own block, right after its input."""
    match = re.search(
        rf'<div class="field has-error[^"]*">\s*<label for="id_{field}">.*?'
        r'<p class="field-error"[^>]*>(.*?)</p>',
        html,
        re.S,
    )
    assert match, f"no error next to {field}"
    return match[1]


# ---------------------------------------------------------------- reads


@pytest.mark.parametrize("person", ["alice", "bob", "audrey"])
def test_every_member_reads_every_page(furnished, person):
    client = client_for(person)
    for url in read_pages(furnished):
        response = client.get(url)
        assert response.status_code == 200, url


@pytest.mark.parametrize("person", ["alice", "bob"])
def test_owners_and_admins_open_every_form(furnished, person):
    client = client_for(person)
    for url in write_pages(furnished):
        assert client.get(url).status_code == 200, url


def test_auditor_gets_no_form_and_sees_no_write_control(furnished):
    client = client_for("audrey")
    for url in write_pages(furnished):
        assert client.get(url).status_code == 404, url
    for url in read_pages(furnished):
        if "/export/" in url:
            continue
        html = client.get(url).content.decode()
        main = html[html.index("<main>") :]  # the top bar's sign-out form aside
        assert 'method="post"' not in main, url
        for control in ("/new/", "/edit/", "/delete/", "/revoke/", "/sync/", "/link/"):
            assert control not in html, (url, control)
    assert "Read-only" in client.get(f"{BASE}/").content.decode()


def test_members_page_is_for_the_owner_only(furnished, acme):
    pages = owner_pages(furnished, acme)
    for url in pages:
        assert client_for("alice").get(url).status_code == 200, url
        assert client_for("bob").get(url).status_code == 404, url
        assert client_for("audrey").get(url).status_code == 404, url
    assert "Members" in client_for("alice").get(f"{BASE}/").content.decode()
    assert "Members &amp; roles" not in client_for("bob").get(f"{BASE}/").content.decode()


def test_another_tenants_owner_gets_404_on_every_acme_page(furnished, acme):
    client = client_for("carol")
    for url in [*read_pages(furnished), *write_pages(furnished), *owner_pages(furnished, acme)]:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"confirm": "yes"}).status_code == 404, url


def test_anonymous_visitor_is_sent_to_sign_in(furnished):
    from django.test import Client

    response = Client().get(f"{BASE}/servers/")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={BASE}/servers/"


# ---------------------------------------------------------------- auditors change nothing


def test_auditor_posts_are_refused_and_change_nothing(furnished, acme):
    from audit.models import AuditEvent
    from configs.models import Connection, McpConfig, SessionToken
    from tenants.models import ApiKey, Membership
    from vault.models import ConnectedAccount

    f = furnished
    with tenant_context(acme):
        events_before = AuditEvent.objects.count()
    attempts = {
        f"{BASE}/connections/new/": {"name": "x", "connector": "demo", "auth_type": "none"},
        f"{BASE}/connections/gmail/delete/": {"confirm": "yes"},
        f"{BASE}/connections/demo/sync/": {},
        f"{BASE}/servers/new/": {"name": "sneaky", "all:demo": "1"},
        f"{BASE}/servers/{f.server.pk}/delete/": {"confirm": "yes"},
        f"{BASE}/servers/estimate/": {"tool:gmail": "gmail_fetch_mails"},
        f"{BASE}/accounts/link/": {"connection": "gmail", "identifier": "x@y.z"},
        f"{BASE}/accounts/{f.account.pk}/revoke/": {"confirm": "yes"},
        f"{BASE}/tokens/{f.token.pk}/revoke/": {"confirm": "yes"},
        f"{BASE}/tokens/revoke-user/": {
            "confirm": "yes",
            "server": str(f.demo_server.pk),
            "identifier": "dave@acme.test",
        },
        f"{BASE}/accounts/end-user/": {
            "confirm": "yes",
            "identifier": "dave@acme.test",
            "connected_accounts": "on",
        },
        f"{BASE}/settings/update/": {
            "audit_retention_days": "1",
            "rate_limit_per_minute": "1",
            "user_rate_limit_per_minute": "1",
            "end_user_rate_limit_per_minute": "1",
        },
        f"{BASE}/settings/api-keys/new/": {"name": "mine"},
        f"{BASE}/settings/api-keys/{f.api_key.pk}/revoke/": {"confirm": "yes"},
        f"{BASE}/settings/members/": {"email": "audrey@acme.test", "role": "owner"},
    }
    client = client_for("audrey")
    for url, data in attempts.items():
        assert client.post(url, data).status_code == 403, url
    acme.refresh_from_db()
    assert acme.audit_retention_days == 90
    assert ApiKey.objects.filter(tenant=acme).count() == 1
    assert ApiKey.objects.get(pk=f.api_key.pk).revoked_at is None
    assert Membership.objects.get(tenant=acme, user__username="audrey@acme.test").role == "auditor"
    with tenant_context(acme):
        assert sorted(Connection.objects.values_list("name", flat=True)) == ["demo", "gmail"]
        assert McpConfig.objects.count() == 2
        assert ConnectedAccount.objects.get(pk=f.account.pk).status == "PENDING_AUTH"
        assert SessionToken.objects.get(pk=f.token.pk).revoked_at is None
        assert AuditEvent.objects.count() == events_before


# ---------------------------------------------------------------- destructive actions


def test_destructive_actions_need_a_confirmed_post(furnished, acme):
    from configs.models import SessionToken

    f = furnished
    url = f"{BASE}/tokens/{f.token.pk}/revoke/"
    client = client_for("bob")
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="confirm" value="yes"' in page.content.decode()
    unconfirmed = client.post(url)
    assert unconfirmed.status_code == 200 and b"Revoke token" in unconfirmed.content
    with tenant_context(acme):
        assert SessionToken.objects.get(pk=f.token.pk).revoked_at is None
    done = client.post(url, {"confirm": "yes"})
    assert (done.status_code, done["Location"]) == (302, f"{BASE}/tokens/")
    with tenant_context(acme):
        assert SessionToken.objects.get(pk=f.token.pk).revoked_at is not None


def test_revoking_an_account_is_confirmed_and_audited(furnished, acme):
    from audit.models import AuditEvent

    f = furnished
    url = f"{BASE}/accounts/{f.account.pk}/revoke/"
    client = client_for("alice")
    assert client.post(url).status_code == 200  # the confirm page, nothing done
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    with tenant_context(acme):
        f.account.refresh_from_db()
        assert f.account.status == "REVOKED"
        event = AuditEvent.objects.filter(event_type="account.revoked").get()
    assert (event.actor, event.identifier) == ("user:alice@acme.test", "dave@acme.test")


def test_deleting_a_server_and_a_connection(furnished, acme):
    from configs.models import Connection, McpConfig

    client = client_for("bob")
    assert (
        client.post(f"{BASE}/servers/{furnished.server.pk}/delete/", {"confirm": "yes"})["Location"]
        == f"{BASE}/servers/"
    )
    assert (
        client.post(f"{BASE}/connections/demo/delete/", {"confirm": "yes"})["Location"]
        == f"{BASE}/connections/"
    )
    with tenant_context(acme):
        assert list(McpConfig.objects.values_list("name", flat=True)) == ["demo-server"]
        assert list(Connection.objects.values_list("name", flat=True)) == ["gmail"]


def test_revoking_every_token_of_a_user(furnished, acme):
    from configs.models import SessionToken

    f = furnished
    response = client_for("bob").post(
        f"{BASE}/tokens/revoke-user/",
        {"confirm": "yes", "server": str(f.demo_server.pk), "identifier": "dave@acme.test"},
    )
    assert response.status_code == 302
    with tenant_context(acme):
        assert SessionToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_ending_a_user_on_the_accounts_page_revokes_everywhere_with_counts(furnished, acme):
    from accounts.services.sessions import session_token_mint
    from audit.models import AuditEvent
    from configs.models import SessionToken
    from configs.services.mcp_configs import mcp_config_create
    from vault.models import ConnectedAccount

    f = furnished
    with tenant_context(acme):
        other = mcp_config_create(
            name="demo-two", mappings=[{"connection_name": "demo", "tools": ["*"]}], actor="t"
        )
        session_token_mint(config=other, identifier="dave@acme.test", expiry_seconds=600, actor="t")
        session_token_mint(config=other, identifier="erin@acme.test", expiry_seconds=600, actor="t")
    client = client_for("bob")
    page = client.get(f"{BASE}/accounts/").content.decode()
    assert 'id="end-user-button"' in page and "End this user" in page
    assert (
        'id="end-user-button"' not in client_for("audrey").get(f"{BASE}/accounts/").content.decode()
    )

    ask = client.get(f"{BASE}/accounts/end-user/?identifier=dave@acme.test&connected_accounts=on")
    assert "End dave@acme.test on every server" in ask.content.decode()
    with tenant_context(acme):
        assert SessionToken.objects.filter(revoked_at__isnull=True).count() == 3  # asked only

    done = client.post(
        f"{BASE}/accounts/end-user/",
        {"confirm": "yes", "identifier": "dave@acme.test", "connected_accounts": "on"},
        follow=True,
    )
    assert "2 token(s) on 2 server(s) and 1 connected account(s) revoked" in done.content.decode()
    with tenant_context(acme):
        live = SessionToken.objects.filter(revoked_at__isnull=True)
        assert list(live.values_list("identifier", flat=True)) == ["erin@acme.test"]
        f.account.refresh_from_db()
        assert f.account.status == ConnectedAccount.Status.REVOKED
        [event] = AuditEvent.objects.filter(event_type="token.revoked")
        assert event.identifier == "dave@acme.test" and event.actor == "user:bob@acme.test"
        assert event.extra["revoked_token_count"] == 2 and event.extra["server_count"] == 2
        assert event.extra["revoked_account_count"] == 1 and event.extra["scope"] == "end_user"


def test_api_key_is_shown_once_and_revoked_with_confirmation(furnished, acme):
    from tenants.models import ApiKey

    client = client_for("bob")
    created = client.post(f"{BASE}/settings/api-keys/new/", {"name": "ci"})
    html = created.content.decode()
    secret = re.search(r'id="new-api-key" type="text" readonly value="(vmcp_sk_[^"]+)"', html)[1]
    key = ApiKey.objects.get(tenant=acme, name="ci")
    assert key.prefix in secret
    assert secret not in client.get(f"{BASE}/settings/").content.decode()
    client.post(f"{BASE}/settings/api-keys/{key.pk}/revoke/", {"confirm": "yes"})
    key.refresh_from_db()
    assert key.revoked_at is not None


# ---------------------------------------------------------------- forms


def test_connection_form_shows_errors_next_to_the_fields(furnished):
    client = client_for("bob")
    response = client.post(
        f"{BASE}/connections/new/",
        {"name": "Bad Name!", "connector": "gmail", "auth_type": "oauth2", "client_id": "x"},
    )
    assert response.status_code == 400
    assert "a–z" in field_error(response.content.decode(), "name")
    missing_id = client.post(
        f"{BASE}/connections/new/", {"name": "gmail2", "connector": "gmail", "auth_type": "oauth2"}
    )
    assert "client_id" in field_error(missing_id.content.decode(), "client_id")
    bad_url = client.post(
        f"{BASE}/connections/new/",
        {"name": "up", "connector": "mcp", "auth_type": "none", "server_url": "not a url"},
    )
    assert "valid URL" in field_error(bad_url.content.decode(), "server_url")


def test_creating_an_oauth_connection_keeps_the_secret_write_only(furnished, acme):
    client = client_for("alice")
    response = client.post(
        f"{BASE}/connections/new/",
        {
            "name": "calendar",
            "connector": "googlecalendar",
            "auth_type": "oauth2",
            "client_id": "cal-client",
            "client_secret": "cal-very-secret",
            "scopes": "https://www.googleapis.com/auth/calendar.readonly",
        },
    )
    assert response["Location"] == f"{BASE}/connections/calendar/"
    page = client.get(f"{BASE}/connections/calendar/").content.decode()
    assert "cal-very-secret" not in page
    assert re.search(r'id="secret-client_secret">set on \d{4}-\d\d-\d\d', page)
    assert 'value="http://127.0.0.1:8000/oauth/callback"' in page
    edit = client.get(f"{BASE}/connections/calendar/edit/").content.decode()
    assert "cal-very-secret" not in edit and "cal-client" in edit


def test_settings_form_validates_and_audits(furnished, acme):
    from audit.models import AuditEvent

    client = client_for("bob")
    limits = {
        "rate_limit_per_minute": "600",
        "user_rate_limit_per_minute": "60",
        "end_user_rate_limit_per_minute": "300",
    }
    too_short = client.post(f"{BASE}/settings/update/", {**limits, "audit_retention_days": "0"})
    assert too_short.status_code == 400
    assert field_error(too_short.content.decode(), "audit_retention_days") == (
        "Must be between 1 and 3,650."
    )
    not_a_number = client.post(
        f"{BASE}/settings/update/",
        {**limits, "audit_retention_days": "30", "user_rate_limit_per_minute": "x"},
    )
    assert "whole number" in field_error(
        not_a_number.content.decode(), "user_rate_limit_per_minute"
    )
    good = client.post(
        f"{BASE}/settings/update/",
        {
            "audit_retention_days": "30",
            "rate_limit_per_minute": "600",
            "user_rate_limit_per_minute": "60",
            "end_user_rate_limit_per_minute": "90",
            "store_tool_arguments": "on",
        },
    )
    assert good.status_code == 302
    acme.refresh_from_db()
    assert (acme.audit_retention_days, acme.store_tool_arguments) == (30, True)
    assert acme.end_user_rate_limit_per_minute == 90
    with tenant_context(acme):
        event = AuditEvent.objects.get(event_type="settings.changed")
    assert event.actor == "user:bob@acme.test"
    assert event.extra["changes"]["audit_retention_days"] == {"from": 90, "to": 30}


def test_server_builder_validates_and_saves(furnished, acme):
    from configs.models import McpConfig

    client = client_for("bob")
    nothing = client.post(f"{BASE}/servers/new/", {"name": "empty"})
    assert nothing.status_code == 400
    assert "Tick at least one tool" in nothing.content.decode()
    taken = client.post(f"{BASE}/servers/new/", {"name": "summarizer", "all:demo": "1"})
    assert "taken" in field_error(taken.content.decode(), "name")
    clash = client.post(
        f"{BASE}/servers/new/",
        {
            "name": "clash",
            "tool:demo": ["demo_echo", "demo_add"],
            "oname:demo:demo_add": "demo_echo",
        },
    )
    assert clash.status_code == 400
    created = client.post(
        f"{BASE}/servers/new/",
        {
            "name": "inbox",
            "tool:gmail": ["gmail_fetch_mails"],
            "oname:gmail:gmail_fetch_mails": "recent_mail",
            "all:demo": "1",
        },
    )
    assert created.status_code == 302
    with tenant_context(acme):
        config = McpConfig.objects.get(name="inbox")
        mappings = {m.connection.name: (m.tools, m.overrides) for m in config.mappings.all()}
    assert mappings == {
        "gmail": (["gmail_fetch_mails"], {"gmail_fetch_mails": {"name": "recent_mail"}}),
        "demo": (["*"], {}),
    }
    assert created["Location"] == f"{BASE}/servers/{config.pk}/"


def test_server_builder_sets_a_per_tool_rate_limit_and_keeps_it_on_edit(furnished, acme):
    from configs.models import McpConfig, ToolMapping

    client = client_for("bob")
    bad = client.post(
        f"{BASE}/servers/new/",
        {"name": "mailer", "tool:gmail": ["gmail_send_email"], "orl:gmail:gmail_send_email": "x"},
    )
    assert bad.status_code == 400
    assert "calls per minute" in bad.content.decode()
    created = client.post(
        f"{BASE}/servers/new/",
        {"name": "mailer", "tool:gmail": ["gmail_send_email"], "orl:gmail:gmail_send_email": "10"},
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    with tenant_context(acme):
        config = McpConfig.objects.get(name="mailer")
        assert ToolMapping.objects.get(config=config).tool_rate_limits == {"gmail_send_email": 10}
    edit = client.get(f"{BASE}/servers/{config.pk}/edit/").content.decode()
    assert 'name="orl:gmail:gmail_send_email" value="10"' in edit


def test_builder_estimate_drops_as_tools_are_scoped(furnished):
    client = client_for("bob")

    def estimate(data: dict) -> tuple[int, int, str]:
        html = client.post(f"{BASE}/servers/estimate/", data).content.decode()
        tokens = int(re.search(r'data-tokens="(\d+)"', html)[1])
        catalog = int(re.search(r'id="est-catalog-tokens">([\d,]+)<', html)[1].replace(",", ""))
        saving = re.search(r'id="est-saving">([^<]+)<', html)[1]
        return tokens, catalog, saving

    all_tokens, catalog, saving = estimate({"all:gmail": "1"})
    assert (all_tokens, saving) == (catalog, "0%")
    two, catalog_again, saving = estimate({"tool:gmail": ["gmail_fetch_mails", "gmail_send_mail"]})
    assert catalog_again == catalog and 0 < two < catalog / 5
    assert saving.startswith("−") and int(saving[1:-1]) >= 80


def test_server_page_shows_the_mcp_url_and_snippets(furnished):
    html = client_for("audrey").get(f"{BASE}/servers/{furnished.server.pk}/").content.decode()
    assert f'value="http://127.0.0.1:8000/t/acme/mcp/{furnished.server.pk}"' in html
    assert f"/t/acme/api/v1/mcp/configs/{furnished.server.pk}/tokens" in html
    for marker in ("streamable_http_client", "MultiServerMCPClient", "MCPServerStreamableHttp"):
        assert marker in html
    assert "2 of 34 tools" in html or "of 34" in html


def test_connect_link_is_created_for_an_end_user(furnished, acme):
    from audit.models import AuditEvent

    client = client_for("bob")
    invalid = client.post(f"{BASE}/accounts/link/", {"connection": "gmail", "identifier": ""})
    assert invalid.status_code == 400 and field_error(invalid.content.decode(), "identifier")
    response = client.post(
        f"{BASE}/accounts/link/", {"connection": "gmail", "identifier": "erin@acme.test"}
    )
    html = response.content.decode()
    assert re.search(
        r'id="connect-link" type="text" readonly value="http://[^"]+/t/acme/connect/', html
    )
    with tenant_context(acme):
        assert AuditEvent.objects.filter(
            event_type="connect_link.created", identifier="erin@acme.test"
        ).exists()


def test_audit_filters_validate_and_narrow(furnished):
    client = client_for("audrey")
    html = client.get(f"{BASE}/audit/?since=2026-02-01&until=2026-01-01").content.decode()
    assert "must not be before" in field_error(html, "until")
    narrowed = client.get(f"{BASE}/audit/?tool=demo_echo").content.decode()
    assert narrowed.count("<tr>") == 1 + 1  # header + the one call
    export = client.get(f"{BASE}/audit/export/?tool=demo_echo")
    body = b"".join(export.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,occurred_at,event_type")
    assert len(body.splitlines()) == 2 and "demo_echo" in body


# ---------------------------------------------------------------- members


def test_owner_adds_changes_and_removes_members(furnished, acme):
    from audit.models import AuditEvent
    from tenants.models import Membership

    client = client_for("alice")
    bad = client.post(
        f"{BASE}/settings/members/", {"action": "invite", "email": "nope", "role": "admin"}
    )
    assert bad.status_code == 400 and field_error(bad.content.decode(), "email")
    client.post(f"{BASE}/settings/members/", {"email": "frank@acme.test", "role": "auditor"})
    client.post(f"{BASE}/settings/members/", {"email": "frank@acme.test", "role": "admin"})
    frank = Membership.objects.get(tenant=acme, user__username="frank@acme.test")
    assert frank.role == "admin"
    client.post(f"{BASE}/settings/members/{frank.pk}/remove/", {"confirm": "yes"})
    assert not Membership.objects.filter(pk=frank.pk).exists()
    with tenant_context(acme):
        changes = [
            (e.extra["from"], e.extra["to"])
            for e in AuditEvent.objects.filter(event_type="member.changed").order_by("id")
        ]
    assert changes == [(None, "auditor"), ("auditor", "admin"), ("admin", None)]


def test_the_last_owner_cannot_leave_or_be_demoted(furnished, acme):
    from tenants.models import Membership

    alice = Membership.objects.get(tenant=acme, user__username="alice@acme.test")
    client = client_for("alice")
    demote = client.post(f"{BASE}/settings/members/", {"email": "alice@acme.test", "role": "admin"})
    assert demote.status_code == 400
    assert "at least one owner" in demote.content.decode().split('id="role-error">')[1]
    removed = client.post(
        f"{BASE}/settings/members/{alice.pk}/remove/", {"confirm": "yes"}, follow=True
    )
    assert "at least one owner" in removed.content.decode()
    alice.refresh_from_db()
    assert alice.role == "owner"


def test_tenant_switcher_lists_every_tenant_of_the_user(furnished, globex, user_of):
    from tenants.services import membership_set

    membership_set(tenant=globex, user=user_of("alice"), role="auditor")
    html = client_for("alice").get(f"{BASE}/").content.decode()
    assert 'href="/t/globex/dashboard/"' in html and 'href="/t/acme/dashboard/"' in html


def test_moving_an_upstream_servers_credentials_is_confirmed_on_the_edit_form(furnished, acme):
    from audit.models import AuditEvent
    from configs.models import Connection
    from configs.services.connections import connection_create

    with tenant_context(acme):
        connection_create(
            name="up",
            connector="mcp",
            auth_type="shared_header",
            settings={"server_url": "http://127.0.0.1:9/mcp", "header_name": "X-Api-Key"},
            secrets={"shared_header": "upstream-shared-value-123"},
            actor="tests",
        )
    client = client_for("alice")
    form = {
        "name": "up",
        "connector": "mcp",
        "auth_type": "shared_header",
        "server_url": "http://127.0.0.1:10/mcp",
        "header_name": "X-Api-Key",
    }
    refused = client.post(f"{BASE}/connections/up/edit/", form)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert 'id="credential-move"' in page and 'name="confirm_credential_move"' in page
    assert "upstream-shared-value-123" not in page
    with tenant_context(acme):
        assert Connection.objects.get(name="up").settings["server_url"] == "http://127.0.0.1:9/mcp"
    saved = client.post(f"{BASE}/connections/up/edit/", {**form, "confirm_credential_move": "on"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    with tenant_context(acme):
        assert Connection.objects.get(name="up").settings["server_url"] == (
            "http://127.0.0.1:10/mcp"
        )
        event = AuditEvent.objects.filter(event_type="connection.changed").latest("id")
        assert event.extra["host_change_confirmed"] == ["server_url"]
