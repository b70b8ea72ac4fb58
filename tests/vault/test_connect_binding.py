"""The OAuth callback belongs to the browser that pressed Continue (RFC 9700 §2.1, §4.7).

The attack: mallory opens her own connect link, presses Continue and hands the provider's
authorize URL to alice; alice consents, and without a binding her mailbox token would be stored
under mallory's identifier. Each browser is its own client with its own cookie jar.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.services.binding import COOKIE_PATH, browser_cookie_name
from audit.models import AuditEvent
from tenants.services import api_key_create
from tests.conftest import free_port, run_daphne
from tests.fakes import plugin as fakes_plugin
from tests.vault.accounts_support import (
    csrf_token,
    magic_link,
    oauth_connection,
    path_of,
    plaintext_hits,
    press_continue,
)
from vault.models import ConnectedAccount, OAuthState, Secret

fake_providers_server = fakes_plugin.fake_providers_server
fake_providers = fakes_plugin.fake_providers


def _browser() -> Client:
    return Client(enforce_csrf_checks=True)


def _state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def _nothing_stored_for(tenant, identifier: str) -> None:  # noqa: ANN001
    with tenant_context(tenant):
        account = ConnectedAccount.objects.get(identifier=identifier)
        assert account.status == ConnectedAccount.Status.PENDING_AUTH
        assert not Secret.objects.filter(owner_type=Secret.OwnerType.ACCOUNT).exists()


def _failures(tenant) -> list[str]:  # noqa: ANN001
    with tenant_context(tenant):
        return list(
            AuditEvent.objects.filter(event_type="account.connect_failed")
            .order_by("id")
            .values_list("error_code", flat=True)
        )


def test_the_connect_page_names_tenant_app_and_identifier_and_a_visit_starts_nothing(
    acme, acme_api, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail", name="team-mail")
    browser = _browser()

    page = browser.get(path_of(magic_link(acme_api, "team-mail", "mallory@acme.test")))

    assert page.status_code == 200
    for shown in ("Acme", "Gmail", "team-mail", "mallory@acme.test", 'id="continue"'):
        assert shown in page.text
    assert 'method="post"' in page.text
    assert not [c for c in page.cookies if c.startswith("vmcp_oauth_")]
    with tenant_context(acme):
        assert OAuthState.objects.count() == 0


def test_continue_sets_a_bound_cookie_whose_value_is_never_stored(acme, acme_api, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    browser = _browser()
    link = magic_link(acme_api, "gmail", "alice")
    page = browser.get(path_of(link))

    response = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})

    assert response.status_code == 302
    cookie = response.cookies[browser_cookie_name(_state_of(response["Location"]))]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == COOKIE_PATH
    assert cookie["max-age"] == 600
    assert not cookie["secure"]  # PUBLIC_BASE_URL is http in the tests
    assert len(cookie.value) >= 40
    assert plaintext_hits([cookie.value], [acme.schema_name, "public"]) == []


def test_the_cookie_is_secure_when_the_public_url_is_https(
    acme, acme_api, fake_providers, settings
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    settings.PUBLIC_BASE_URL = "https://vmcp.example"
    browser = _browser()
    link = magic_link(acme_api, "gmail", "alice")
    page = browser.get(path_of(link))

    response = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})

    name = browser_cookie_name(_state_of(response["Location"]))
    cookie = response.cookies[name]
    # A __Host- cookie: Secure, Path=/, no Domain, so a sibling subdomain cannot plant one.
    assert name.startswith("__Host-vmcp_oauth_")
    assert (cookie["secure"], cookie["path"], cookie["domain"]) == (True, "/", "")


def test_victims_browser_cannot_finish_the_attackers_flow_and_the_state_is_burnt(
    acme, acme_api, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    mallory, alice = _browser(), _browser()
    authorize = press_continue(mallory, magic_link(acme_api, "gmail", "mallory"))
    # Alice is sent the provider's URL and consents with her own mailbox.
    callback = fake_providers.approve(authorize, login="alice-at-google")

    refused = alice.get(path_of(callback))

    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("text/html")
    assert "started in another browser" in refused.text
    assert "wrong_browser" in refused.text
    _nothing_stored_for(acme, "mallory")
    assert fake_providers.token_requests == []  # the code was never exchanged
    with tenant_context(acme):
        assert OAuthState.objects.get().used_at is not None
        assert not Secret.objects.filter(owner_type=Secret.OwnerType.OAUTH_STATE).exists()
    # Burnt: even mallory's own browser, with the right cookie, can't use alice's code now.
    assert mallory.get(path_of(callback)).status_code == 400
    _nothing_stored_for(acme, "mallory")
    assert _failures(acme) == ["wrong_browser", "state_replayed"]


@pytest.mark.parametrize("cookie", ["missing", "wrong", "another_flows", "empty"])
def test_a_callback_without_this_flows_cookie_is_refused(acme, acme_api, fake_providers, cookie):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    started = _browser()
    authorize = press_continue(started, magic_link(acme_api, "gmail", "alice"))
    name = browser_cookie_name(_state_of(authorize))
    other = _browser()
    if cookie == "wrong":
        other.cookies[name] = "x" * 43
    elif cookie == "empty":
        other.cookies[name] = ""
    elif cookie == "another_flows":
        # The other browser's own, valid binding for a flow of its own, under this flow's name.
        own = press_continue(other, magic_link(acme_api, "gmail", "bob"))
        other.cookies[name] = other.cookies[browser_cookie_name(_state_of(own))].value
    callback = fake_providers.approve(authorize, login="alice")

    response = other.get(path_of(callback))

    assert response.status_code == 403
    assert "wrong_browser" in response.text
    _nothing_stored_for(acme, "alice")
    assert fake_providers.token_requests == []


def test_the_same_browser_finishes_two_flows_started_in_two_tabs(acme, acme_api, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
        oauth_connection(fake_providers, "slack")
    browser = _browser()
    gmail = press_continue(browser, magic_link(acme_api, "gmail", "alice"))
    slack = press_continue(browser, magic_link(acme_api, "slack", "alice"))

    done_slack = browser.get(path_of(fake_providers.approve(slack, login="alice")))
    callback = fake_providers.approve(gmail, login="alice")
    done_gmail = browser.get(path_of(callback))
    replay = browser.get(path_of(callback))

    assert (done_slack.status_code, done_gmail.status_code) == (200, 200)
    # The spent flow's cookie is cleared by the callback.
    cleared = done_gmail.cookies[browser_cookie_name(_state_of(gmail))]
    assert cleared.value == "" and cleared["max-age"] == 0
    assert replay.status_code == 400 and "state_replayed" in replay.text
    with tenant_context(acme):
        statuses = set(ConnectedAccount.objects.values_list("status", flat=True))
    assert statuses == {ConnectedAccount.Status.ACTIVE}


# ------------------------------------------------------------------ over daphne, two cookie jars


@pytest.fixture(scope="module")
def connect_server(django_db_setup, django_db_blocker):  # noqa: ANN001
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with django_db_blocker.unblock(), run_daphne(port, extra_env={"PUBLIC_BASE_URL": base}):
        yield base


def test_over_real_http_only_the_starting_browser_completes_the_flow(
    live_tenant, connect_server, django_db_blocker, fake_providers
):
    fake = fake_providers
    slug = live_tenant.slug
    with django_db_blocker.unblock():
        secret = api_key_create(tenant=live_tenant, name="backend", created_by="tests").secret
        with tenant_context(live_tenant):
            oauth_connection(fake, "gmail", redirect_uri=f"{connect_server}/oauth/callback")
    api = {"Authorization": f"Bearer {secret}"}

    def start(web: httpx.Client, identifier: str) -> str:
        link = web.post(
            f"/t/{slug}/api/v1/connected_accounts/magic_link",
            json={"connection_name": "gmail", "identifier": identifier},
            headers=api,
        ).json()["link"]
        page = web.get(link)
        go = web.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
        assert go.status_code == 302, go.text
        set_cookie = go.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=Lax", f"Path={COOKIE_PATH}", "Max-Age=600"):
            assert attribute in set_cookie
        return go.headers["location"]

    with (
        httpx.Client(base_url=connect_server, timeout=30) as mallory,
        httpx.Client(base_url=connect_server, timeout=30) as alice,
    ):
        stolen = fake.approve(start(mallory, "mallory"), login="alice-at-google")
        refused = alice.get(stolen)
        assert refused.status_code == 403, refused.text
        assert "started in another browser" in refused.text
        assert mallory.get(stolen).status_code == 400  # burnt for the attacker too

        own = alice.get(fake.approve(start(alice, "alice"), login="alice-at-google"))
        assert own.status_code == 200, own.text
        assert "Connected" in own.text

    with django_db_blocker.unblock(), tenant_context(live_tenant):
        statuses = dict(ConnectedAccount.objects.values_list("identifier", "status"))
    assert statuses == {"mallory": "PENDING_AUTH", "alice": "ACTIVE"}
    assert [r.user for r in fake.token_requests if r.outcome == "ok"] == ["alice-at-google"]
