"""Revoking an account kills everything issued before it: links, OAuth flows, session tokens.

Without this, anyone holding an old connect link could re-activate a revoked account with a
credential of their choosing, and the user's old session tokens would start working again.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django_tenants.utils import tenant_context

from accounts.services import oauth as oauth_service
from accounts.services.accounts import account_revoke
from gateway.execution import tool_execute
from tests.fakes import plugin as fakes_plugin
from tests.vault.accounts_support import (
    active_account,
    api_key_connection,
    csrf_token,
    magic_link,
    oauth_connection,
    path_of,
    press_continue,
)
from vault.models import ConnectedAccount, OAuthState, Secret
from vmcp_platform.errors import ApplicationError

fake_providers_server = fakes_plugin.fake_providers_server
fake_providers = fakes_plugin.fake_providers


def _browser() -> Client:
    return Client(enforce_csrf_checks=True)


def _account(tenant, identifier: str, connection: str = "gmail") -> ConnectedAccount:  # noqa: ANN001
    with tenant_context(tenant):
        return ConnectedAccount.objects.select_related("connection").get(
            connection__name=connection, identifier=identifier
        )


def _revoke(api, account: ConnectedAccount) -> None:  # noqa: ANN001
    response = api.delete(f"/t/acme/api/v1/connected_accounts/{account.pk}")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "REVOKED"


def _account_secrets(tenant) -> int:  # noqa: ANN001
    with tenant_context(tenant):
        return Secret.objects.filter(owner_type=Secret.OwnerType.ACCOUNT).count()


def _connect(api, identifier: str, fake, login: str) -> None:  # noqa: ANN001
    browser = _browser()
    authorize = press_continue(browser, magic_link(api, "gmail", identifier))
    callback = fake.approve(authorize, login=login)
    done = browser.get(path_of(callback))
    assert done.status_code == 200, done.content


# ------------------------------------------------------------------ links


def test_an_old_link_cannot_start_a_flow_after_revocation_but_a_new_one_can(
    acme, acme_api, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    _connect(acme_api, "alice", fake_providers, "alice")
    old = magic_link(acme_api, "gmail", "alice")  # e.g. still sitting in an e-mail
    browser = _browser()
    page = browser.get(path_of(old))  # opened before the revocation

    _revoke(acme_api, _account(acme, "alice"))
    shown = _browser().get(path_of(old))
    pressed = browser.post(path_of(old), {"csrfmiddlewaretoken": csrf_token(page.text)})

    for response in (shown, pressed):
        assert response.status_code == 410
        assert "link_revoked" in response.text
        assert "cancelled when the account was revoked" in response.text
    with tenant_context(acme):
        assert OAuthState.objects.filter(used_at__isnull=True).count() == 0
    assert _account(acme, "alice").status == ConnectedAccount.Status.REVOKED

    _connect(acme_api, "alice", fake_providers, "alice")
    assert _account(acme, "alice").status == ConnectedAccount.Status.ACTIVE


def test_an_old_api_key_link_cannot_plant_a_key_after_revocation(acme, acme_api):
    with tenant_context(acme):
        api_key_connection()
    old = magic_link(acme_api, "github-pat", "alice")
    browser = _browser()
    page = browser.get(path_of(old))
    account = _account(acme, "alice", "github-pat")
    _revoke(acme_api, account)

    planted = browser.post(
        path_of(old),
        {"csrfmiddlewaretoken": csrf_token(page.text), "api_key": "ghp_attackersChoice123"},
    )

    assert planted.status_code == 410
    assert "link_revoked" in planted.text
    assert _account(acme, "alice", "github-pat").status == ConnectedAccount.Status.REVOKED
    assert _account_secrets(acme) == 0


# ------------------------------------------------------------------ OAuth flows


def test_an_oauth_flow_in_flight_cannot_complete_after_revocation(acme, acme_api, fake_providers):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    browser = _browser()
    authorize = press_continue(browser, magic_link(acme_api, "gmail", "alice"))
    _revoke(acme_api, _account(acme, "alice"))
    callback = fake_providers.approve(authorize, login="whoever")

    response = browser.get(path_of(callback))

    assert response.status_code == 400
    assert "account_revoked" in response.text
    assert _account(acme, "alice").status == ConnectedAccount.Status.REVOKED
    assert _account_secrets(acme) == 0
    assert fake_providers.token_requests == []
    with tenant_context(acme):  # its PKCE verifier was destroyed with the account's secrets
        assert not Secret.objects.filter(owner_type=Secret.OwnerType.OAUTH_STATE).exists()


def test_a_revocation_during_the_code_exchange_wins(acme, acme_api, fake_providers, monkeypatch):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    browser = _browser()
    callback = fake_providers.approve(
        press_continue(browser, magic_link(acme_api, "gmail", "alice")), login="alice"
    )
    exchange = oauth_service.token_request

    def exchange_then_revoked(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        token = exchange(*args, **kwargs)
        account_revoke(account=_account(acme, "alice"), actor="admin")
        return token

    monkeypatch.setattr(oauth_service, "token_request", exchange_then_revoked)

    response = browser.get(path_of(callback))

    assert response.status_code == 400
    assert "account_revoked" in response.text
    account = _account(acme, "alice")
    assert account.status == ConnectedAccount.Status.REVOKED
    assert _account_secrets(acme) == 0


# ------------------------------------------------------------------ session tokens


@pytest.fixture
def mail_server(acme, acme_api, fake_providers) -> str:  # noqa: ANN001
    """A virtual server exposing gmail_fetch_mails, with alice and bob connected."""
    with tenant_context(acme):
        connection = oauth_connection(fake_providers, "gmail")
        active_account(fake_providers, connection, "alice")
        active_account(fake_providers, connection, "bob")
    created = acme_api.post(
        "/t/acme/api/v1/mcp/configs",
        {
            "name": "mail",
            "connection_tool_mappings": [
                {"connection_name": "gmail", "tools": ["gmail_fetch_mails"]}
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    return created.json()["id"]


def _mint(api, config_id: str, identifier: str) -> str:  # noqa: ANN001
    minted = api.post(
        f"/t/acme/api/v1/mcp/configs/{config_id}/tokens",
        {"identifier": identifier, "expiry": "600s"},
        format="json",
    )
    assert minted.status_code == 201, minted.content
    return minted.json()["id"]


def _call(tenant, config_id: str, token_id: str, identifier: str):  # noqa: ANN001, ANN202
    return async_to_sync(tool_execute)(
        tenant=tenant,
        connection_name="gmail",
        tool_name="gmail_fetch_mails",
        identifier=identifier,
        arguments={},
        actor=f"token:{token_id}",
        config_id=config_id,
        session_token_id=token_id,
    )


def test_tokens_minted_before_a_revocation_stay_dead_after_reconnecting(
    acme, acme_api, fake_providers, mail_server
):
    alice_old = _mint(acme_api, mail_server, "alice")
    bob_old = _mint(acme_api, mail_server, "bob")
    assert _call(acme, mail_server, alice_old, "alice").result.is_error is False

    _revoke(acme_api, _account(acme, "alice"))
    with pytest.raises(ApplicationError) as while_revoked:
        _call(acme, mail_server, alice_old, "alice")
    assert while_revoked.value.code == "no_active_account"

    _connect(acme_api, "alice", fake_providers, "alice")
    with pytest.raises(ApplicationError) as after_reconnect:
        _call(acme, mail_server, alice_old, "alice")
    alice_new = _mint(acme_api, mail_server, "alice")

    assert after_reconnect.value.code == "token_predates_revocation"
    assert "mint a new session token" in after_reconnect.value.message
    assert _call(acme, mail_server, alice_new, "alice").result.is_error is False
    # Bob's token, minted before alice's revocation, is not hers: it keeps working.
    assert _call(acme, mail_server, bob_old, "bob").result.is_error is False
    users = [r.user for r in fake_providers.requests if r.path.endswith("/messages")]
    assert users == ["alice", "alice", "bob"]


def test_a_refused_old_token_call_is_audited_as_denied(acme, acme_api, fake_providers, mail_server):
    from audit.models import AuditEvent

    alice_old = _mint(acme_api, mail_server, "alice")
    _revoke(acme_api, _account(acme, "alice"))
    _connect(acme_api, "alice", fake_providers, "alice")

    with pytest.raises(ApplicationError):
        _call(acme, mail_server, alice_old, "alice")

    with tenant_context(acme):
        denied = AuditEvent.objects.filter(event_type="tool.denied").get()
    assert (denied.identifier, denied.error_code) == ("alice", "token_predates_revocation")
    assert str(denied.session_token_id) == alice_old


def test_the_link_in_the_api_answer_for_a_revoked_user_is_fresh_and_works(
    acme, acme_api, fake_providers
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    _connect(acme_api, "alice", fake_providers, "alice")
    _revoke(acme_api, _account(acme, "alice"))

    created = acme_api.post(
        "/t/acme/api/v1/connected_accounts",
        {"connection_name": "gmail", "identifier": "alice"},
        format="json",
    )

    link = created.json()["authorization_url"]
    assert _browser().get(urlsplit(link).path).status_code == 200
