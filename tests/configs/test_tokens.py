"""Session tokens: minting gated on connected accounts, authentication, revocation, isolation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.services.sessions import session_token_mint
from audit.models import AuditEvent
from configs.models import Connection, SessionToken
from configs.services.mcp_configs import mcp_config_create
from configs.services.tokens import parse_expiry, session_token_authenticate, session_token_revoke
from tests.fakes.plugin import fake_providers, fake_providers_server  # noqa: F401
from tests.vault.accounts_support import csrf_token, oauth_connection, path_of
from vault.models import ConnectedAccount
from vmcp_platform.errors import AuthenticationFailed, ValidationFailed

API = "/t/acme/api/v1"


def _config(tenant, name: str = "agent", *, gmail: bool = True):  # noqa: ANN001
    """A config exposing demo (no credentials) and, optionally, gmail (per-user OAuth)."""
    with tenant_context(tenant):
        Connection.objects.get_or_create(name="demo", connector="demo", auth_type="none")
        mappings = [{"connection_name": "demo", "tools": ["*"]}]
        if gmail:
            Connection.objects.get_or_create(
                name="gmail",
                connector="gmail",
                auth_type="oauth2",
                defaults={"settings": {"client_id": "c"}},
            )
            mappings.insert(0, {"connection_name": "gmail", "tools": ["gmail_send_email"]})
        return mcp_config_create(name=name, mappings=mappings, actor="test")


def _activate(tenant, identifier: str) -> None:  # noqa: ANN001
    with tenant_context(tenant):
        ConnectedAccount.objects.update_or_create(
            connection=Connection.objects.get(name="gmail"),
            identifier=identifier,
            defaults={"status": ConnectedAccount.Status.ACTIVE},
        )


def _mint(tenant, config, identifier: str = "alice", seconds: int = 3600):  # noqa: ANN001
    with tenant_context(tenant):
        return session_token_mint(
            config=config, identifier=identifier, expiry_seconds=seconds, actor="test"
        )


def _authenticate(tenant, config_id, secret: str) -> SessionToken:  # noqa: ANN001
    with tenant_context(tenant):
        return session_token_authenticate(config_id=config_id, secret=secret)


def _reason(tenant, config_id, secret: str) -> str:  # noqa: ANN001
    with pytest.raises(AuthenticationFailed) as failure:
        _authenticate(tenant, config_id, secret)
    return failure.value.details["reason"]


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def test_mint_is_refused_with_connect_links_until_the_user_connects(
    acme,
    acme_api,
    browser,
    fake_providers,  # noqa: F811
):
    with tenant_context(acme):
        oauth_connection(fake_providers, "gmail")
    config = _config(acme)
    url = f"{API}/mcp/configs/{config.pk}/tokens"

    refused = acme_api.post(url, {"identifier": "alice", "expiry": "15m"}, format="json")

    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert error["code"] == "missing_connected_accounts"
    [missing] = error["details"]["missing_connections"]
    assert {k: missing[k] for k in ("connection_name", "connector", "status")} == {
        "connection_name": "gmail",
        "connector": "gmail",
        "status": "NOT_CONNECTED",
    }
    link = missing["authorization_url"]
    assert link.startswith(f"{settings.PUBLIC_BASE_URL}/t/acme/connect/vmcp_cl_")
    with tenant_context(acme):
        assert not SessionToken.objects.exists()
        denied = AuditEvent.objects.get(event_type="token.minted")
        assert (denied.outcome, denied.error_code) == ("denied", "missing_connected_accounts")

    # Alice follows the link through the real connect flow (provider faked over HTTP).
    page = browser.get(path_of(link))
    assert page.status_code == 200
    authorize = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})
    assert authorize.status_code == 302
    callback = fake_providers.approve(authorize["Location"], login="alice")
    assert browser.get(path_of(callback)).status_code == 200

    minted = acme_api.post(url, {"identifier": "alice", "expiry": "15m"}, format="json")

    assert minted.status_code == 201, minted.content
    body = minted.json()
    assert set(body) == {"id", "token", "expires_at", "mcp_server_url", "identifier"}
    assert body["token"].startswith("vmcp_st_")
    assert body["identifier"] == "alice"
    assert body["mcp_server_url"] == f"{settings.PUBLIC_BASE_URL}/t/acme/mcp/{config.pk}"
    token = _authenticate(acme, config.pk, body["token"])
    assert str(token.pk) == body["id"]
    assert timedelta(minutes=14) < token.expires_at - timezone.now() <= timedelta(minutes=15)
    # Bob has not connected: alice's account is not his.
    bob = acme_api.post(url, {"identifier": "bob"}, format="json")
    assert bob.status_code == 409
    assert bob.json()["error"]["details"]["identifier"] == "bob"


def test_a_config_needing_no_user_credentials_mints_at_once(acme, acme_api):
    config = _config(acme, gmail=False)

    response = acme_api.post(
        f"{API}/mcp/configs/{config.pk}/tokens", {"identifier": "alice"}, format="json"
    )

    assert response.status_code == 201
    token = _authenticate(acme, config.pk, response.json()["token"])
    assert timedelta(minutes=59) < token.expires_at - timezone.now() <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("60s", 60), ("15m", 900), ("1h", 3600), ("24h", 86400), ("3600s", 3600), ("300", 300)],
)
def test_expiry_accepts_60s_to_24h(value, seconds):
    assert parse_expiry(value) == seconds


@pytest.mark.parametrize("value", ["59s", "25h", "0", "1d", "-5m", "abc", "1441m"])
def test_expiry_out_of_range_is_a_validation_error(value):
    with pytest.raises(ValidationFailed) as failure:
        parse_expiry(value)
    assert set(failure.value.details) == {"expiry"}


def test_mint_api_rejects_bad_expiry_and_identifier(acme, acme_api):
    config = _config(acme, gmail=False)
    url = f"{API}/mcp/configs/{config.pk}/tokens"

    expiry = acme_api.post(url, {"identifier": "alice", "expiry": "25h"}, format="json")
    assert expiry.status_code == 400
    assert list(expiry.json()["error"]["details"]) == ["expiry"]
    long_id = acme_api.post(url, {"identifier": "a" * 256}, format="json")
    assert long_id.status_code == 400
    assert list(long_id.json()["error"]["details"]) == ["identifier"]


def test_revoking_a_token_makes_it_fail_immediately(acme, acme_api):
    config = _config(acme, gmail=False)
    minted = _mint(acme, config)
    assert _authenticate(acme, config.pk, minted.secret).pk == minted.token.pk

    response = acme_api.delete(f"{API}/mcp/tokens/{minted.token.pk}")

    assert response.status_code == 204
    assert _reason(acme, config.pk, minted.secret) == "revoked_token"
    with tenant_context(acme):
        [event] = AuditEvent.objects.filter(event_type="token.revoked")
        assert event.session_token_id == minted.token.pk
        assert event.identifier == "alice"
    # Revoking again is harmless and records nothing new.
    assert acme_api.delete(f"{API}/mcp/tokens/{minted.token.pk}").status_code == 204
    with tenant_context(acme):
        assert AuditEvent.objects.filter(event_type="token.revoked").count() == 1


def test_an_expired_token_fails_on_read(acme):
    config = _config(acme, gmail=False)
    minted = _mint(acme, config, seconds=60)
    with tenant_context(acme):
        SessionToken.objects.filter(pk=minted.token.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

    assert _reason(acme, config.pk, minted.secret) == "expired_token"


def test_a_token_of_one_config_is_refused_for_another(acme):
    first = _config(acme, "first", gmail=False)
    second = _config(acme, "second", gmail=False)
    minted = _mint(acme, first)

    assert _reason(acme, second.pk, minted.secret) == "invalid_token"
    assert _authenticate(acme, first.pk, minted.secret).config == first


def test_a_mistyped_token_is_rejected_without_a_query(acme, django_assert_num_queries):
    config = _config(acme, gmail=False)
    secret = _mint(acme, config).secret
    flipped = secret[:-7] + ("B" if secret[-7] != "B" else "C") + secret[-6:]

    with tenant_context(acme), django_assert_num_queries(0):
        for wrong in (flipped, secret[:-1], "vmcp_sk_" + secret[8:], "", "Bearer " + secret):
            with pytest.raises(AuthenticationFailed) as failure:
                session_token_authenticate(config_id=config.pk, secret=wrong)
            assert failure.value.details == {"reason": "malformed_token"}


def _sql(context: CaptureQueriesContext) -> list[str]:
    """The statements run, without django-tenants' per-cursor ``SET search_path``."""
    return [q["sql"].split()[0] for q in context.captured_queries if "search_path" not in q["sql"]]


def test_last_use_is_written_at_most_once_a_minute(acme):
    config = _config(acme, gmail=False)
    minted = _mint(acme, config)
    with tenant_context(acme):
        with CaptureQueriesContext(db) as first_use:
            first = session_token_authenticate(config_id=config.pk, secret=minted.secret)
        with CaptureQueriesContext(db) as second_use:
            session_token_authenticate(config_id=config.pk, secret=minted.secret)
        assert SessionToken.objects.get(pk=minted.token.pk).last_used_at == first.last_used_at
    assert _sql(first_use) == ["SELECT", "UPDATE"]
    assert _sql(second_use) == ["SELECT"]


def test_list_filters_and_pages_and_never_shows_the_secret(acme, acme_api):
    config = _config(acme, gmail=False)
    alice_1, alice_2, bob = _mint(acme, config), _mint(acme, config), _mint(acme, config, "bob")
    with tenant_context(acme):
        session_token_revoke(token=alice_1.token, actor="test")
    url = f"{API}/mcp/configs/{config.pk}/tokens"

    everything = acme_api.get(url)
    assert everything.status_code == 200
    assert [t["id"] for t in everything.json()["data"]] == [
        str(bob.token.pk),
        str(alice_2.token.pk),
        str(alice_1.token.pk),
    ]
    assert set(everything.json()["data"][0]) == {
        "id",
        "identifier",
        "prefix",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "active",
    }
    for minted in (alice_1, alice_2, bob):
        assert minted.secret not in everything.content.decode()
        assert minted.secret[8:20] not in everything.content.decode()

    alice = acme_api.get(url, {"identifier": "alice"}).json()["data"]
    assert [t["id"] for t in alice] == [str(alice_2.token.pk), str(alice_1.token.pk)]
    active = acme_api.get(url, {"active": "true"}).json()["data"]
    assert {t["id"] for t in active} == {str(alice_2.token.pk), str(bob.token.pk)}
    inactive = acme_api.get(url, {"active": "false"}).json()["data"]
    assert [(t["id"], t["active"]) for t in inactive] == [(str(alice_1.token.pk), False)]

    page = acme_api.get(url, {"limit": 2}).json()
    rest = acme_api.get(url, {"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [t["id"] for t in page["data"] + rest["data"]] == [
        t["id"] for t in everything.json()["data"]
    ]
    assert rest["next_cursor"] is None


def test_revoke_all_of_one_identifiers_tokens_leaves_others_working(acme, acme_api):
    config = _config(acme, gmail=False)
    alice_1, alice_2, bob = _mint(acme, config), _mint(acme, config), _mint(acme, config, "bob")

    response = acme_api.post(
        f"{API}/mcp/configs/{config.pk}/tokens/revoke", {"identifier": "alice"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert _reason(acme, config.pk, alice_1.secret) == "revoked_token"
    assert _reason(acme, config.pk, alice_2.secret) == "revoked_token"
    assert _authenticate(acme, config.pk, bob.secret).identifier == "bob"
    with tenant_context(acme):
        assert AuditEvent.objects.filter(event_type="token.revoked").count() == 2


def test_the_secret_never_reaches_the_audit_trail_or_the_database(acme, acme_api):
    config = _config(acme)
    _activate(acme, "alice")
    minted = acme_api.post(
        f"{API}/mcp/configs/{config.pk}/tokens", {"identifier": "alice"}, format="json"
    ).json()
    acme_api.delete(f"{API}/mcp/tokens/{minted['id']}")

    with tenant_context(acme):
        events = list(AuditEvent.objects.values())
        assert {e["event_type"] for e in events} >= {"token.minted", "token.revoked"}
        assert minted["token"] not in json.dumps(events, default=str)
        stored = list(SessionToken.objects.values())
        assert minted["token"] not in json.dumps(stored, default=str)


def test_acme_key_can_neither_list_nor_revoke_globex_tokens(acme, globex, acme_api):
    globex_config = _config(globex, "globex-agent", gmail=False)
    minted = _mint(globex, globex_config)

    assert acme_api.delete(f"{API}/mcp/tokens/{minted.token.pk}").status_code == 404
    assert acme_api.get(f"{API}/mcp/configs/{globex_config.pk}/tokens").status_code == 404
    assert (
        acme_api.post(
            f"{API}/mcp/configs/{globex_config.pk}/tokens/revoke",
            {"identifier": "alice"},
            format="json",
        ).status_code
        == 404
    )
    assert acme_api.delete(f"{API}/mcp/tokens/not-a-uuid").status_code == 404
    assert _authenticate(globex, globex_config.pk, minted.secret).identifier == "alice"
    # Globex's token means nothing in acme's schema, even with the right config id.
    assert _reason(acme, globex_config.pk, minted.secret) == "invalid_token"
