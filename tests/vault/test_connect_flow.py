"""The end user's connect flow: link → consent at the provider → callback → ACTIVE account.

The provider is the fake Google/Slack/GitHub over real HTTP (it checks PKCE, state and the
redirect URI); our pages are driven with Django's test client (CSRF enforced) or, end to end,
with httpx against a real daphne process.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.purge import purge_expired
from connectors import get_connector
from tenants.services import api_key_create
from tests.conftest import free_port, run_daphne
from tests.fakes import plugin as fakes_plugin
from tests.vault.accounts_support import (
    api_key_connection,
    csrf_token,
    oauth_connection,
    path_of,
    plaintext_hits,
)
from vault.models import ConnectedAccount, ConnectLink, OAuthState, Secret
from vault.secrets import secret_put
from vault.services import account_credential_for_call
from vault.services.accounts import account_tokens

# The fake providers' fixtures, registered for this module.
fake_providers_server = fakes_plugin.fake_providers_server
fake_providers = fakes_plugin.fake_providers


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def _magic_link(api, connection_name: str, identifier: str, tenant: str = "acme") -> str:  # noqa: ANN001
    response = api.post(
        f"/t/{tenant}/api/v1/connected_accounts/magic_link",
        {"connection_name": connection_name, "identifier": identifier},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["link"]


def _continue(browser: Client, link: str) -> str:
    """Open the connect page and press Continue; returns the provider's authorize URL."""
    page = browser.get(path_of(link))
    assert page.status_code == 200, page.content
    response = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})
    assert response.status_code == 302, response.content
    return response["Location"]


def _account(tenant, connection_name: str, identifier: str) -> ConnectedAccount:  # noqa: ANN001
    with tenant_context(tenant):
        return ConnectedAccount.objects.select_related("connection").get(
            connection__name=connection_name, identifier=identifier
        )


def _secret_count(tenant, owner_type: str) -> int:  # noqa: ANN001
    with tenant_context(tenant):
        return Secret.objects.filter(owner_type=owner_type).count()


def _failures(tenant) -> list[str]:  # noqa: ANN001
    with tenant_context(tenant):
        return list(
            AuditEvent.objects.filter(event_type="account.connect_failed")
            .order_by("id")
            .values_list("error_code", flat=True)
        )


@pytest.mark.parametrize(
    ("connector", "scope_param", "separator"),
    [("gmail", "scope", " "), ("slack", "user_scope", ",")],
)
def test_user_connects_with_oauth_and_their_own_token_is_used(
    acme, acme_api, browser, fake_providers, connector, scope_param, separator
):
    with tenant_context(acme):
        oauth_connection(fake_providers, connector)

    link = _magic_link(acme_api, connector, "alice")
    page = browser.get(path_of(link))
    assert page.status_code == 200
    assert "Acme" in page.text
    assert {"gmail": "Gmail", "slack": "Slack"}[connector] in page.text

    authorize = _continue(browser, link)
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(fake_providers.oauth_urls(connector)["authorize_url"])
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["state"][0].startswith("acme.")
    assert query[scope_param] == [separator.join(get_connector(connector).oauth.default_scopes)]

    callback = fake_providers.approve(authorize, login="alice-at-provider")
    done = browser.get(path_of(callback))
    assert done.status_code == 200, done.content
    assert "Connected" in done.text

    account = _account(acme, connector, "alice")
    assert account.status == ConnectedAccount.Status.ACTIVE
    assert account.connected_at is not None
    assert account.token_expires_at is not None
    assert account.last_error == ""
    assert account.scopes == list(query[scope_param][0].replace(",", " ").split())
    exchange = [r for r in fake_providers.token_requests if r.grant_type == "authorization_code"]
    assert [(r.outcome, r.user) for r in exchange] == [("ok", "alice-at-provider")]

    with tenant_context(acme):
        token = account_credential_for_call(connection=account.connection, identifier="alice")
        assert (
            AuditEvent.objects.filter(event_type="account.connected", account_id=account.pk).count()
            == 1
        )
    api_path = {"gmail": "/gmail/v1/users/me/profile", "slack": "/auth.test"}[connector]
    response = httpx.request(
        "POST" if connector == "slack" else "GET",
        fake_providers.url(connector) + api_path,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert fake_providers.requests[-1].user == "alice-at-provider"


def test_no_plaintext_token_link_or_state_in_any_column_after_a_flow(
    acme, acme_api, browser, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")
    authorize = _continue(browser, link)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    callback = fake_providers.approve(authorize, login="alice")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert browser.get(path_of(callback)).status_code == 200

    account = _account(acme, "gmail", "alice")
    with tenant_context(acme):
        tokens = account_tokens(account)
    assert tokens and tokens["access_token"] and tokens["refresh_token"]
    needles = [
        tokens["access_token"],
        tokens["refresh_token"],
        link.rsplit("/", 1)[1],
        state,
        state.split(".", 1)[1],
        code,
    ]
    assert plaintext_hits(needles, [acme.schema_name, "public"]) == []


def test_replayed_state_is_refused_and_changes_nothing(acme, acme_api, browser, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")
    callback = fake_providers.approve(_continue(browser, link), login="alice")
    assert browser.get(path_of(callback)).status_code == 200
    before = _account(acme, "gmail", "alice")
    with tenant_context(acme):
        tokens_before = account_tokens(before)

    replay = browser.get(path_of(callback))

    assert replay.status_code == 400
    assert "state_replayed" in replay.text
    after = _account(acme, "gmail", "alice")
    assert after.status == ConnectedAccount.Status.ACTIVE
    assert after.updated_at == before.updated_at
    with tenant_context(acme):
        assert account_tokens(after) == tokens_before
    assert _failures(acme) == ["state_replayed"]
    assert len([r for r in fake_providers.token_requests if r.grant_type]) == 1


def test_denied_consent_stores_nothing(acme, acme_api, browser, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")
    callback = fake_providers.approve(_continue(browser, link), allow=False)
    assert "error=access_denied" in callback

    response = browser.get(path_of(callback))

    assert response.status_code == 400
    assert "access_denied" in response.text
    assert _account(acme, "gmail", "alice").status == ConnectedAccount.Status.PENDING_AUTH
    assert _secret_count(acme, Secret.OwnerType.ACCOUNT) == 0
    assert _secret_count(acme, Secret.OwnerType.OAUTH_STATE) == 0
    assert _failures(acme) == ["access_denied"]
    assert fake_providers.token_requests == []


def test_wrong_pkce_verifier_is_refused_by_the_provider_and_nothing_is_stored(
    acme, acme_api, browser, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")
    authorize = _continue(browser, link)
    with tenant_context(acme):
        state_row = OAuthState.objects.get()
        secret_put(
            owner_type=Secret.OwnerType.OAUTH_STATE,
            owner_id=state_row.pk,
            field="code_verifier",
            value="x" * 64,
        )
    callback = fake_providers.approve(authorize, login="alice")

    response = browser.get(path_of(callback))

    assert response.status_code == 400
    assert "exchange_failed" in response.text
    assert [r.outcome for r in fake_providers.token_requests] == ["invalid_grant"]
    assert _account(acme, "gmail", "alice").status == ConnectedAccount.Status.PENDING_AUTH
    assert _secret_count(acme, Secret.OwnerType.ACCOUNT) == 0
    assert _failures(acme) == ["exchange_failed"]


def test_expired_state_is_refused(acme, acme_api, browser, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    authorize = _continue(browser, _magic_link(acme_api, "gmail", "alice"))
    with tenant_context(acme):
        OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    callback = fake_providers.approve(authorize, login="alice")

    response = browser.get(path_of(callback))

    assert response.status_code == 400
    assert "state_expired" in response.text
    assert fake_providers.token_requests == []
    assert _account(acme, "gmail", "alice").status == ConnectedAccount.Status.PENDING_AUTH


@pytest.mark.parametrize(
    "query",
    [
        "code=abc",
        "code=abc&state=",
        "code=abc&state=nonsense",
        "code=abc&state=acme.not-a-real-state",
        "code=abc&state=no-such-tenant.abcdef",
    ],
)
def test_missing_or_unknown_state_is_refused(acme, browser, query, fake_providers):
    response = browser.get(f"/oauth/callback?{query}")
    assert response.status_code == 400
    assert "state_unknown" in response.text
    assert fake_providers.token_requests == []


def test_a_state_moved_to_another_tenant_is_unknown_there(
    acme, globex, acme_api, browser, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    callback = fake_providers.approve(
        _continue(browser, _magic_link(acme_api, "gmail", "alice")), login="alice"
    )
    forged = path_of(callback).replace("state=acme.", "state=globex.")

    response = browser.get(forged)

    assert response.status_code == 400
    assert "state_unknown" in response.text
    assert _account(acme, "gmail", "alice").status == ConnectedAccount.Status.PENDING_AUTH
    assert _failures(globex) == ["state_unknown"]


def test_expired_link_shows_a_clear_page_and_starts_nothing(
    acme, acme_api, browser, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")
    with tenant_context(acme):
        ConnectLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    page = browser.get(path_of(link))
    post = Client().post(path_of(link))

    assert page.status_code == 410
    assert "expired" in page.text
    assert post.status_code == 410
    with tenant_context(acme):
        assert OAuthState.objects.count() == 0


def test_used_link_cannot_start_a_second_flow(acme, acme_api, browser, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")
    _continue(browser, link)

    again = browser.get(path_of(link))
    post_again = Client().post(path_of(link))

    assert again.status_code == 410
    assert "already been used" in again.text
    assert post_again.status_code == 410
    with tenant_context(acme):
        assert OAuthState.objects.count() == 1


@pytest.mark.parametrize("token", ["vmcp_cl_" + "A" * 46, "not-a-link", "vmcp_sk_whatever"])
def test_unknown_link_is_404(acme, browser, token):
    response = browser.get(f"/t/acme/connect/{token}")
    assert response.status_code == 404


def test_acme_link_does_not_open_under_globex(acme, globex, acme_api, browser, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")

    response = browser.get(path_of(link).replace("/t/acme/", "/t/globex/"))

    assert response.status_code == 404
    assert browser.get(path_of(link)).status_code == 200  # still usable where it belongs


def test_continue_without_csrf_token_is_refused(acme, acme_api, browser, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    link = _magic_link(acme_api, "gmail", "alice")

    response = browser.post(path_of(link))

    assert response.status_code == 403
    with tenant_context(acme):
        assert ConnectLink.objects.get().used_at is None


def test_api_key_connector_takes_a_pasted_key(acme, acme_api, browser):
    with tenant_context(acme):
        connection = api_key_connection()
    link = _magic_link(acme_api, "github-pat", "alice")
    page = browser.get(path_of(link))
    assert page.status_code == 200
    assert 'name="api_key"' in page.text

    empty = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})
    assert empty.status_code == 400
    saved = browser.post(
        path_of(link),
        {"csrfmiddlewaretoken": csrf_token(page.text), "api_key": "ghp_secretPersonalToken123"},
    )

    assert saved.status_code == 200
    assert "Connected" in saved.text
    account = _account(acme, "github-pat", "alice")
    assert account.status == ConnectedAccount.Status.ACTIVE
    with tenant_context(acme):
        key = account_credential_for_call(connection=connection, identifier="alice")
    assert key == "ghp_secretPersonalToken123"
    assert plaintext_hits(["ghp_secretPersonalToken123"], [acme.schema_name, "public"]) == []
    assert browser.get(path_of(link)).status_code == 410


# ------------------------------------------------------------------ end to end over daphne


@pytest.fixture(scope="module")
def connect_server(django_db_setup, django_db_blocker):  # noqa: ANN001
    """A daphne whose PUBLIC_BASE_URL is itself, so the provider redirects back to it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with django_db_blocker.unblock(), run_daphne(port, extra_env={"PUBLIC_BASE_URL": base}):
        yield base


@pytest.mark.parametrize("connector", ["gmail", "slack"])
def test_full_flow_over_real_http(
    connector, live_tenant, connect_server, django_db_blocker, fake_providers
):
    fake = fake_providers
    with django_db_blocker.unblock():
        secret = api_key_create(tenant=live_tenant, name="backend", created_by="tests").secret
        with tenant_context(live_tenant):
            oauth_connection(fake, connector, redirect_uri=f"{connect_server}/oauth/callback")
        with httpx.Client(base_url=connect_server, follow_redirects=False, timeout=30) as web:
            created = web.post(
                f"/t/{live_tenant.slug}/api/v1/connected_accounts",
                json={"connection_name": connector, "identifier": "alice"},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert created.status_code == 201, created.text
            assert created.json()["status"] == "PENDING_AUTH"
            link = created.json()["authorization_url"]
            assert link.startswith(f"{connect_server}/t/{live_tenant.slug}/connect/vmcp_cl_")

            page = web.get(link)
            assert page.status_code == 200
            assert live_tenant.name in page.text
            go = web.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
            assert go.status_code == 302, go.text
            callback = fake.approve(go.headers["location"], login=f"alice-{connector}")
            assert callback.startswith(f"{connect_server}/oauth/callback?")
            done = web.get(callback)
            assert done.status_code == 200, done.text
            assert "Connected" in done.text

            listed = web.get(
                f"/t/{live_tenant.slug}/api/v1/connected_accounts",
                params={"identifier": "alice"},
                headers={"Authorization": f"Bearer {secret}"},
            ).json()
            assert [a["status"] for a in listed["data"]] == ["ACTIVE"]
            assert web.get(callback).status_code == 400  # replay

        with tenant_context(live_tenant):
            account = ConnectedAccount.objects.select_related("connection").get()
            token = account_credential_for_call(connection=account.connection, identifier="alice")
    assert token
    assert [r.user for r in fake.token_requests if r.outcome == "ok"] == [f"alice-{connector}"]


def test_purge_removes_long_expired_links_and_states_with_their_verifiers(
    acme, acme_api, browser, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    _continue(browser, _magic_link(acme_api, "gmail", "alice"))
    fresh = _magic_link(acme_api, "gmail", "bob")
    with tenant_context(acme):
        ConnectLink.objects.filter(account__identifier="alice").update(
            expires_at=timezone.now() - timedelta(days=2)
        )
        OAuthState.objects.update(expires_at=timezone.now() - timedelta(days=2))

    counts = purge_expired(tenant=acme)

    assert (counts["connect_links"], counts["oauth_states"]) == (1, 1)
    assert _secret_count(acme, Secret.OwnerType.OAUTH_STATE) == 0
    assert browser.get(path_of(fresh)).status_code == 200
    again = purge_expired(tenant=acme)
    assert (again["connect_links"], again["oauth_states"]) == (0, 0)
