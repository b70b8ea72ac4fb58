"""An OAuth-protected upstream MCP server as a connection: vmcp is its OAuth client per end user.

The upstream (``tests.upstream.oauth_server``) is the ``mcp`` SDK's resource server with the
SDK's authorization server in front, on loopback; it checks every token itself. End users
connect through their connect link in a browser (Django's test client, CSRF enforced), approve
at the authorization server, and each tool call carries that user's own token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.services.accounts import account_revoke
from configs.models import Connection
from configs.services.connections import connection_create
from connectors.mcp_upstream import forget_servers
from tenants.models import Tenant
from tests.gateway.test_execution_support import run
from tests.upstream.oauth_server import (
    ADMIN,
    BASIC,
    AuthServerOptions,
    OAuthUpstream,
    query_of,
    run_oauth_upstream,
)
from tests.vault.accounts_support import magic_link, path_of, plaintext_hits, press_continue
from vault.models import ConnectedAccount, Secret
from vault.secrets import secret_get
from vmcp_platform.errors import ApplicationError

REDIRECT = "http://127.0.0.1:8000/oauth/callback"


@pytest.fixture(autouse=True)
def _fresh_upstream_sessions() -> Iterator[None]:
    forget_servers()
    yield
    forget_servers()


@pytest.fixture
def upstream() -> Iterator[OAuthUpstream]:
    with run_oauth_upstream() as server:
        yield server


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def _create(tenant: Tenant, upstream: OAuthUpstream, **kwargs: Any) -> Connection:
    with tenant_context(tenant):
        return connection_create(
            name=kwargs.pop("name", "remote"),
            connector="mcp",
            auth_type="oauth2",
            settings={"server_url": upstream.url, **kwargs.pop("settings", {})},
            secrets=kwargs.pop("secrets", None),
            actor="tests",
        )


def _connect(api: Any, browser: Client, upstream: OAuthUpstream, who: str) -> dict[str, list[str]]:
    """``who`` opens their connect link, presses Continue and approves at the upstream's AS."""
    authorize = press_continue(browser, magic_link(api, "remote", who))
    query = query_of(authorize)
    callback = upstream.approve(authorize, user=f"{who}-upstream")
    done = browser.get(path_of(callback))
    assert done.status_code == 200, done.content
    assert "Connected" in done.text
    return query


def _whoami(tenant: Tenant, who: str) -> Any:
    executed = run(tenant, connection_name="remote", tool_name="whoami", identifier=who)
    assert not executed.result.is_error, executed.result.content
    return executed.result.structured or json.loads(executed.result.content[0]["text"])


def _account(tenant: Tenant, who: str) -> ConnectedAccount:
    with tenant_context(tenant):
        return ConnectedAccount.objects.get(connection__name="remote", identifier=who)


# ---------------------------------------------------------------- the story


def test_two_users_connect_and_each_call_carries_their_own_token(acme, acme_api, browser, upstream):
    connection = _create(acme, upstream)
    registration = connection.upstream_oauth["registration"]
    assert registration["method"] == "dcr"
    assert connection.upstream_oauth["discovery"]["issuer"] == upstream.issuer
    assert [r["redirect_uris"] for r in upstream.provider.registrations] == [[REDIRECT]]

    for who in ("alice", "bob"):
        query = _connect(acme_api, browser, upstream, who)
        assert query["client_id"] == [registration["client_id"]]
        assert query["resource"] == [upstream.url]
        assert query["scope"] == [BASIC]
        assert query["code_challenge_method"] == ["S256"]

    with tenant_context(acme):
        connection.refresh_from_db()
        # The first user to connect let vmcp discover the tools (the upstream lists them only
        # to a signed-in caller).
        assert {t["name"] for t in connection.tools} == {"whoami", "admin_action"}
    assert [r["resource"] for r in upstream.provider.authorize_requests] == [upstream.url] * 2

    for who in ("alice", "bob", "alice"):
        assert _whoami(acme, who) == {"user": f"{who}-upstream"}
    assert _account(acme, "alice").status == ConnectedAccount.Status.ACTIVE

    # The tokens and the registered client secret live only in the vault.
    with tenant_context(acme):
        secrets = list(upstream.provider.access) + list(upstream.provider.refresh)
        secrets.append(
            secret_get(
                owner_type=Secret.OwnerType.CONNECTION,
                owner_id=connection.pk,
                field="registered_client_secret",
            )
        )
        assert plaintext_hits([s for s in secrets if s], [acme.schema_name, "public"]) == []


def test_an_expired_token_is_refreshed_once_and_the_call_goes_through(
    acme, acme_api, browser, upstream
):
    _create(acme, upstream)
    _connect(acme_api, browser, upstream, "alice")
    upstream.provider.expire_access_tokens()
    with tenant_context(acme):
        ConnectedAccount.objects.filter(identifier="alice").update(
            token_expires_at=timezone.now() - timedelta(seconds=5)
        )

    assert _whoami(acme, "alice") == {"user": "alice-upstream"}
    assert _whoami(acme, "alice") == {"user": "alice-upstream"}
    grants = [r["grant_type"] for r in upstream.provider.token_requests]
    assert grants == ["authorization_code", "refresh_token"]
    assert _account(acme, "alice").refreshed_at is not None


def test_revoked_account_fails_closed_for_that_user_only(acme, acme_api, browser, upstream):
    _create(acme, upstream)
    for who in ("alice", "bob"):
        _connect(acme_api, browser, upstream, who)
    with tenant_context(acme):
        account_revoke(account=_account(acme, "alice"), actor="tests")

    with pytest.raises(ApplicationError) as refused:
        run(acme, connection_name="remote", tool_name="whoami", identifier="alice")
    assert refused.value.code in ("no_active_account", "account_revoked")
    assert _whoami(acme, "bob") == {"user": "bob-upstream"}
    # vmcp also revoked alice's token at the authorization server.
    assert [i.user for i in upstream.provider.access.values() if i.revoked] == ["alice-upstream"]


def test_a_token_the_upstream_rejects_expires_the_account_and_says_so(
    acme, acme_api, browser, upstream
):
    _create(acme, upstream)
    for who in ("alice", "bob"):
        _connect(acme_api, browser, upstream, who)
    for issued in upstream.provider.access.values():
        if issued.user == "alice-upstream":
            issued.revoked = True  # revoked at the provider, behind vmcp's back

    executed = run(acme, connection_name="remote", tool_name="whoami", identifier="alice")
    assert executed.result.is_error
    assert "EXPIRED" in executed.result.content[0]["text"]
    assert _account(acme, "alice").status == ConnectedAccount.Status.EXPIRED
    assert _whoami(acme, "bob") == {"user": "bob-upstream"}


def test_insufficient_scope_sends_the_user_a_step_up_link(acme, acme_api, browser, upstream):
    _create(acme, upstream)
    _connect(acme_api, browser, upstream, "alice")

    executed = run(acme, connection_name="remote", tool_name="admin_action", identifier="alice")
    assert executed.result.is_error
    text = executed.result.content[0]["text"]
    assert ADMIN in text and "/t/acme/connect/" in text
    link = "http://" + text.split("http://", 1)[1].split()[0]

    # The link asks for the union of the scopes (SEP-2350); approving it grants the tool.
    authorize = press_continue(browser, link)
    assert query_of(authorize)["scope"] == [f"{BASIC} {ADMIN}"]
    browser.get(path_of(upstream.approve(authorize, user="alice-upstream")))
    again = run(acme, connection_name="remote", tool_name="admin_action", identifier="alice")
    assert not again.result.is_error, again.result.content


# ---------------------------------------------------------------- registration methods


def test_pre_registered_client_is_used_with_its_secret_from_the_vault(
    acme, acme_api, browser, upstream
):
    upstream.pre_register("acme-vmcp", "pre-registered-secret-" + "x" * 16, REDIRECT)
    connection = _create(
        acme,
        upstream,
        settings={"client_id": "acme-vmcp"},
        secrets={"client_secret": "pre-registered-secret-" + "x" * 16},
    )
    assert connection.upstream_oauth["registration"] == {
        **connection.upstream_oauth["registration"],
        "method": "pre_registered",
        "client_id": "acme-vmcp",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    assert upstream.provider.registrations == []
    query = _connect(acme_api, browser, upstream, "alice")
    assert query["client_id"] == ["acme-vmcp"]
    assert _whoami(acme, "alice") == {"user": "alice-upstream"}


@override_settings(PUBLIC_BASE_URL="https://vmcp.example.test")
def test_client_id_metadata_document_is_used_where_the_server_supports_it(acme, acme_api, browser):
    document_url = "https://vmcp.example.test/oauth/client-metadata.json"

    def fetch(url: str) -> dict[str, Any] | None:
        # The authorization server reads vmcp's own document (served by the real view).
        assert url == document_url
        response = Client().get("/oauth/client-metadata.json")
        assert response.status_code == 200
        return response.json()

    with run_oauth_upstream(AuthServerOptions(cimd=True)) as upstream:
        upstream.provider.cimd_fetch = fetch
        connection = _create(acme, upstream)
        assert connection.upstream_oauth["registration"]["method"] == "cimd"
        assert connection.upstream_oauth["registration"]["client_id"] == document_url
        assert upstream.provider.registrations == []
        query = _connect(acme_api, browser, upstream, "alice")
        assert query["client_id"] == [document_url]
        assert query["redirect_uri"] == ["https://vmcp.example.test/oauth/callback"]
        assert _whoami(acme, "alice") == {"user": "alice-upstream"}


def test_client_metadata_document_names_the_deployments_redirect_uri(client):
    response = client.get("/oauth/client-metadata.json")
    assert response.status_code == 200
    assert response.json() == {
        "client_id": "http://127.0.0.1:8000/oauth/client-metadata.json",
        "client_name": "vmcp",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }


# ---------------------------------------------------------------- refusals


def test_metadata_naming_another_issuer_is_refused_and_nothing_is_stored(acme, acme_api):
    options = AuthServerOptions(metadata_issuer="https://attacker.example.com")
    with run_oauth_upstream(options) as upstream:
        response = acme_api.post(
            "/t/acme/api/v1/connections",
            {
                "name": "remote",
                "connector": "mcp",
                "auth_type": "oauth2",
                "settings": {"server_url": upstream.url},
            },
            format="json",
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "upstream_oauth_issuer_mismatch"
        assert upstream.provider.registrations == []
    with tenant_context(acme):
        assert not Connection.objects.filter(name="remote").exists()


@pytest.mark.parametrize("issuer", ["http://169.254.169.254", "http://10.1.2.3:8443"])
def test_discovery_pointing_to_a_private_address_is_refused(acme, acme_api, issuer):
    # The server's protected-resource metadata sends vmcp to a metadata / private address.
    with run_oauth_upstream(advertised_issuer=issuer) as upstream:
        response = acme_api.post(
            "/t/acme/api/v1/connections",
            {
                "name": "remote",
                "connector": "mcp",
                "auth_type": "oauth2",
                "settings": {"server_url": upstream.url},
            },
            format="json",
        )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "upstream_oauth_refused"
    assert "refused" in error["message"]
    with tenant_context(acme):
        assert not Connection.objects.filter(name="remote").exists()


@pytest.mark.parametrize(
    ("settings", "secrets", "field"),
    [
        ({}, None, "server_url"),
        ({"server_url": "{url}", "header_name": "X-Key"}, None, None),
        ({"server_url": "{url}", "client_id": ""}, None, "client_id"),
        (
            {"server_url": "{url}", "token_endpoint_auth_method": "client_secret_basic"},
            None,
            "token_endpoint_auth_method",
        ),
        (
            {"server_url": "{url}", "client_id": "a", "token_endpoint_auth_method": "jwt"},
            None,
            "token_endpoint_auth_method",
        ),
        ({"server_url": "{url}"}, {"client_secret": "s" * 20}, "client_secret"),
    ],
)
def test_bad_oauth_upstream_settings_are_clear_errors(
    acme, acme_api, upstream, settings, secrets, field
):
    body: dict[str, Any] = {
        "name": "remote",
        "connector": "mcp",
        "auth_type": "oauth2",
        "settings": {k: v.replace("{url}", upstream.url) for k, v in settings.items()},
    }
    if secrets:
        body["secrets"] = secrets
    response = acme_api.post("/t/acme/api/v1/connections", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    if field:
        assert error["details"].get("field") == field, error
    with tenant_context(acme):
        assert not Connection.objects.filter(name="remote").exists()
    assert upstream.provider.registrations == []


# ---------------------------------------------------------------- what the admin sees


def test_dashboard_shows_the_registration_and_each_users_state_never_a_secret(
    acme, acme_api, browser, upstream, client, user_of
):
    connection = _create(acme, upstream)
    _connect(acme_api, browser, upstream, "alice")
    client.force_login(user_of("alice"))
    page = client.get("/t/acme/dashboard/connections/remote/")
    assert page.status_code == 200, page.content
    html = page.content.decode()
    assert "dynamic client registration" in html
    assert connection.upstream_oauth["registration"]["client_id"] in html
    assert upstream.issuer in html
    assert "alice" in html and "ACTIVE" in html
    for secret in [*upstream.provider.access, *upstream.provider.refresh]:
        assert secret not in html
    registered = [r["client_secret"] for r in upstream.provider.registrations]
    assert registered and registered[0] not in html

    api = acme_api.get("/t/acme/api/v1/connections/remote").json()
    assert api["upstream_oauth"]["registration"]["method"] == "dcr"
    assert registered[0] not in json.dumps(api)
    assert api["secrets"]["registered_client_secret"]["set"] is True


# ---------------------------------------------------------------- the headless client check


def test_mcp_client_check_authorizes_lists_and_calls_every_tool_with_step_up(upstream, capsys):
    from django.core.management import call_command

    upstream.provider.auto_approve_user = "checker"
    call_command("mcp_client_check", upstream.url)
    out = capsys.readouterr().out
    assert "registered by dcr" in out
    assert "tools/call whoami: ok" in out
    assert "tools/call admin_action: ok" in out  # after one step-up authorization
    assert out.rstrip().endswith("mcp_client_check: ok")
    scopes = [r["scopes"] for r in upstream.provider.authorize_requests]
    assert scopes == [[BASIC], [BASIC, ADMIN]]
    assert {r["resource"] for r in upstream.provider.authorize_requests} == {upstream.url}


def test_mcp_client_check_refuses_a_poisoned_issuer():
    from django.core.management import CommandError, call_command

    with run_oauth_upstream(
        AuthServerOptions(metadata_issuer="https://attacker.example.com")
    ) as up:
        with pytest.raises(CommandError, match="issuer"):
            call_command("mcp_client_check", up.url)
        assert up.provider.registrations == [] and up.provider.authorize_requests == []


def test_patching_the_client_registers_again_and_a_refusal_changes_nothing(
    acme, acme_api, upstream
):
    connection = _create(acme, upstream)
    assert connection.upstream_oauth["registration"]["method"] == "dcr"
    upstream.pre_register("acme-public", None, REDIRECT)

    response = acme_api.patch(
        "/t/acme/api/v1/connections/remote",
        {"settings": {"client_id": "acme-public"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    registration = response.json()["upstream_oauth"]["registration"]
    assert (registration["method"], registration["client_id"]) == ("pre_registered", "acme-public")
    assert registration["token_endpoint_auth_method"] == "none"

    # A server URL whose metadata names a private authorization server: refused, rolled back.
    with run_oauth_upstream(advertised_issuer="http://10.9.8.7") as other:
        refused = acme_api.patch(
            "/t/acme/api/v1/connections/remote",
            {"settings": {"server_url": other.url}},
            format="json",
        )
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"]["code"] == "upstream_oauth_refused"
    with tenant_context(acme):
        connection.refresh_from_db()
        assert connection.settings["server_url"] == upstream.url
        assert connection.upstream_oauth["registration"]["client_id"] == "acme-public"


def test_moving_the_server_needs_confirmation_and_then_its_users_reconnect(
    acme, acme_api, browser, upstream
):
    """The users' tokens were issued for the old server (its resource): they must neither go
    to the new one unasked nor stay in use after the admin confirms the move."""
    from audit.models import AuditEvent

    connection = _create(acme, upstream)
    for who in ("alice", "bob"):
        _connect(acme_api, browser, upstream, who)
    url = "/t/acme/api/v1/connections/remote"
    with run_oauth_upstream() as other:
        refused = acme_api.patch(url, {"settings": {"server_url": other.url}}, format="json")
        assert refused.status_code == 409, refused.content
        assert refused.json()["error"]["code"] == "credentials_would_move"
        assert refused.json()["error"]["details"] == {"fields": ["server_url"], "credentials": 2}
        # Refused before discovery: the new server heard nothing, the connection is unchanged.
        assert other.provider.registrations == []
        with tenant_context(acme):
            connection.refresh_from_db()
            assert connection.settings["server_url"] == upstream.url
        assert _whoami(acme, "alice") == {"user": "alice-upstream"}

        confirmed = acme_api.patch(
            url,
            {"settings": {"server_url": other.url}, "confirm_credential_move": True},
            format="json",
        )
        assert confirmed.status_code == 200, confirmed.content
        assert confirmed.json()["upstream_oauth"]["discovery"]["issuer"] == other.issuer
        for who in ("alice", "bob"):
            account = _account(acme, who)
            assert account.status == ConnectedAccount.Status.EXPIRED
            assert "reconnect" in account.last_error
            with tenant_context(acme):
                assert not Secret.objects.filter(
                    owner_type=Secret.OwnerType.ACCOUNT, owner_id=account.pk
                ).exists()
        with tenant_context(acme):
            event = AuditEvent.objects.filter(event_type="connection.changed").latest("id")
        assert event.extra["host_change_confirmed"] == ["server_url"]
        assert event.extra["accounts_expired"] == 2

        # The old token is not sent to the new server: alice is told to reconnect...
        with pytest.raises(ApplicationError) as expired:
            run(acme, connection_name="remote", tool_name="whoami", identifier="alice")
        assert expired.value.code == "account_expired"
        assert other.provider.token_requests == []
        # ...and once she has, her calls go through with a token the new server issued.
        _connect(acme_api, browser, other, "alice")
        assert _whoami(acme, "alice") == {"user": "alice-upstream"}
        assert [i.user for i in other.provider.access.values()] == ["alice-upstream"]


def test_a_pre_registered_client_secret_alone_does_not_move_unconfirmed(acme, acme_api, upstream):
    upstream.pre_register("acme-vmcp", "pre-registered-secret-" + "x" * 16, REDIRECT)
    _create(
        acme,
        upstream,
        settings={"client_id": "acme-vmcp"},
        secrets={"client_secret": "pre-registered-secret-" + "x" * 16},
    )
    with run_oauth_upstream() as other:
        refused = acme_api.patch(
            "/t/acme/api/v1/connections/remote",
            {"settings": {"server_url": other.url}},
            format="json",
        )
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["details"] == {"fields": ["server_url"], "credentials": 1}
    assert "pre-registered-secret" not in refused.content.decode()


def test_sync_lists_tools_with_a_connected_users_token_and_fails_clearly_without(
    acme, acme_api, browser, upstream
):
    _create(acme, upstream)
    refused = acme_api.post("/t/acme/api/v1/connections/remote/sync")
    assert refused.status_code >= 400
    assert "rejected the credential" in refused.json()["error"]["message"]

    _connect(acme_api, browser, upstream, "alice")
    synced = acme_api.post("/t/acme/api/v1/connections/remote/sync")
    assert synced.status_code == 200, synced.content
    assert {t["name"] for t in synced.json()["tools"]} == {"whoami", "admin_action"}
