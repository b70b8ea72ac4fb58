"""REST for connected accounts: create with a connect link, list/filter/page, get, revoke.

Isolation: acme's key never sees or revokes globex's accounts, and alice's account never
serves bob.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from accounts.services import account_credential_for_call, account_revoke
from accounts.services.accounts import account_store_api_key
from audit.models import AuditEvent
from tests.fakes import plugin as fakes_plugin
from tests.vault.accounts_support import active_account, api_key_connection, oauth_connection
from vault.models import ConnectedAccount, ConnectLink, Secret
from vmcp_platform import tokens
from vmcp_platform.errors import ApplicationError

fake_providers_server = fakes_plugin.fake_providers_server
fake_providers = fakes_plugin.fake_providers

API = "/t/acme/api/v1"
REPRESENTATION = {
    "id",
    "connection_name",
    "connector",
    "identifier",
    "status",
    "connected_account_status",
    "scopes",
    "token_expires_at",
    "last_error",
    "created_at",
    "updated_at",
    "connected_at",
}


@pytest.fixture
def gmail(acme, fake_providers):  # noqa: ANN001, ANN201
    with tenant_context(acme):
        return oauth_connection(fake_providers, "gmail")


def _create(api, identifier: str, connection_name: str = "gmail", tenant: str = "acme"):  # noqa: ANN001, ANN202
    return api.post(
        f"/t/{tenant}/api/v1/connected_accounts",
        {"connection_name": connection_name, "identifier": identifier},
        format="json",
    )


def test_create_returns_a_pending_account_with_a_fresh_connect_link(acme, acme_api, gmail):
    response = _create(acme_api, "alice")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == REPRESENTATION | {
        "authorization_url",
        "authorization_url_expires_at",
        "authentication_link",
    }
    assert body["status"] == body["connected_account_status"] == "PENDING_AUTH"
    assert body["authentication_link"] == body["authorization_url"]
    assert body["connection_name"] == "gmail"
    assert body["connector"] == "gmail"
    assert body["identifier"] == "alice"
    prefix = f"{settings.PUBLIC_BASE_URL}/t/acme/connect/"
    assert body["authorization_url"].startswith(prefix)
    token = body["authorization_url"].removeprefix(prefix)
    assert tokens.is_well_formed(token, tokens.CONNECT_LINK_PREFIX)
    with tenant_context(acme):
        link = ConnectLink.objects.get()
        assert link.token_hash == tokens.hash_token(token)
        assert link.used_at is None
        seconds = (link.expires_at - link.created_at).total_seconds()
        assert abs(seconds - settings.VMCP_CONNECT_LINK_TTL_SECONDS) < 5
        events = list(
            AuditEvent.objects.filter(account_id__isnull=False)
            .order_by("id")
            .values_list("event_type", flat=True)
        )
    assert events == ["account.created", "connect_link.created"]

    again = _create(acme_api, "alice")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert again.json()["authorization_url"] != body["authorization_url"]


def test_magic_link_returns_link_and_expiry_only(acme, acme_api, gmail):
    response = acme_api.post(
        f"{API}/connected_accounts/magic_link",
        {"connection_name": "gmail", "identifier": "alice"},
        format="json",
    )

    assert response.status_code == 201
    assert set(response.json()) == {"link", "expires_at"}
    assert response.json()["link"].startswith(f"{settings.PUBLIC_BASE_URL}/t/acme/connect/")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"connection_name": "nope", "identifier": "alice"}, 404, "not_found"),
        ({"connection_name": "gmail"}, 400, "validation_error"),
        ({"connection_name": "gmail", "identifier": ""}, 400, "validation_error"),
        ({"connection_name": "gmail", "identifier": "a\nb"}, 400, "validation_error"),
        ({"connection_name": "gmail", "identifier": "x" * 256}, 400, "validation_error"),
    ],
)
def test_create_refuses_bad_input(acme_api, gmail, payload, status, code):
    response = acme_api.post(f"{API}/connected_accounts", payload, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_a_connection_without_user_credentials_takes_no_accounts(acme, acme_api):
    with tenant_context(acme):
        from configs.models import Connection

        Connection.objects.create(name="demo", connector="demo", auth_type="none")

    response = _create(acme_api, "alice", connection_name="demo")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "connection_needs_no_account"


def test_list_filters_and_pages_with_an_opaque_cursor(acme, acme_api, gmail, fake_providers):
    with tenant_context(acme):
        github = api_key_connection()
        for name in ("u1", "u2", "u3", "u4", "u5"):
            ConnectedAccount.objects.create(connection=gmail, identifier=name)
        active_account(fake_providers, gmail, "alice")
        ConnectedAccount.objects.create(connection=github, identifier="alice")

    first = acme_api.get(f"{API}/connected_accounts", {"limit": 3}).json()
    second = acme_api.get(
        f"{API}/connected_accounts", {"limit": 3, "cursor": first["next_cursor"]}
    ).json()
    third = acme_api.get(
        f"{API}/connected_accounts", {"limit": 3, "cursor": second["next_cursor"]}
    ).json()

    assert set(first) == {"data", "next_cursor"}
    seen = [a["identifier"] for page in (first, second, third) for a in page["data"]]
    assert seen == ["alice", "alice", "u5", "u4", "u3", "u2", "u1"]
    assert third["next_cursor"] is None
    assert all(set(a) == REPRESENTATION for a in first["data"])

    by_user = acme_api.get(f"{API}/connected_accounts", {"identifier": "alice"}).json()
    assert sorted(a["connection_name"] for a in by_user["data"]) == ["github-pat", "gmail"]
    by_conn = acme_api.get(
        f"{API}/connected_accounts", {"connection_name": "gmail", "status": "ACTIVE"}
    ).json()
    assert [a["identifier"] for a in by_conn["data"]] == ["alice"]
    assert by_conn["next_cursor"] is None

    bad = acme_api.get(f"{API}/connected_accounts", {"cursor": "!!!"})
    assert bad.status_code == 400
    assert acme_api.get(f"{API}/connected_accounts", {"status": "nope"}).status_code == 400
    assert acme_api.get(f"{API}/connected_accounts", {"limit": 0}).status_code == 400


def test_representation_never_contains_a_token(acme, acme_api, gmail, fake_providers):
    with tenant_context(acme):
        account, issued = active_account(fake_providers, gmail, "alice")

    for response in (
        acme_api.get(f"{API}/connected_accounts/{account.pk}"),
        acme_api.get(f"{API}/connected_accounts"),
    ):
        assert response.status_code == 200
        assert issued["access_token"] not in response.text
        assert issued["refresh_token"] not in response.text
    detail = acme_api.get(f"{API}/connected_accounts/{account.pk}").json()
    assert detail["status"] == "ACTIVE"
    assert set(detail) == REPRESENTATION


def test_delete_revokes_destroys_secret_and_revokes_at_the_provider(
    acme, acme_api, gmail, fake_providers
):
    with tenant_context(acme):
        account, issued = active_account(fake_providers, gmail, "alice")

    response = acme_api.delete(f"{API}/connected_accounts/{account.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "REVOKED"
    assert issued["refresh_token"] in fake_providers.revoked
    assert issued["access_token"] in fake_providers.revoked  # Google revokes the whole grant
    with tenant_context(acme):
        account.refresh_from_db()
        assert account.status == ConnectedAccount.Status.REVOKED
        assert account.revoked_at is not None
        assert account.last_error == ""
        assert not Secret.objects.filter(owner_type="account", owner_id=account.pk).exists()
        event = AuditEvent.objects.get(event_type="account.revoked")
        assert event.account_id == account.pk
        assert event.extra == {"provider_revocation": "ok"}
        with pytest.raises(ApplicationError) as excinfo:
            account_credential_for_call(connection=gmail, identifier="alice")
    assert excinfo.value.code == "no_active_account"


@pytest.mark.parametrize("connector", ["slack", "github"])
def test_revocation_reaches_slack_and_github(acme, acme_api, fake_providers, connector):
    with tenant_context(acme):
        connection = oauth_connection(fake_providers, connector)
        account, issued = active_account(fake_providers, connection, "alice")

    assert acme_api.delete(f"{API}/connected_accounts/{account.pk}").status_code == 200

    assert issued["access_token"] in fake_providers.revoked


def test_revocation_stands_when_the_provider_is_unreachable(acme, acme_api, fake_providers):
    with tenant_context(acme):
        connection = oauth_connection(
            fake_providers, "gmail", revoke_url="http://127.0.0.1:9/revoke"
        )
        account, _ = active_account(fake_providers, connection, "alice")

    response = acme_api.delete(f"{API}/connected_accounts/{account.pk}")

    assert response.status_code == 200
    assert response.json()["status"] == "REVOKED"
    assert "revoking at the provider failed" in response.json()["last_error"]
    with tenant_context(acme):
        assert not Secret.objects.filter(owner_type="account", owner_id=account.pk).exists()
        event = AuditEvent.objects.get(event_type="account.revoked")
        assert event.extra == {"provider_revocation": "failed"}


def test_acme_key_cannot_see_or_revoke_globex_accounts(
    acme, globex, acme_api, globex_api, fake_providers
):
    with tenant_context(globex):
        connection = oauth_connection(fake_providers, "gmail", client_id="globex-client")
        carol, _ = active_account(fake_providers, connection, "carol")

    assert acme_api.get(f"{API}/connected_accounts/{carol.pk}").status_code == 404
    assert acme_api.delete(f"{API}/connected_accounts/{carol.pk}").status_code == 404
    assert acme_api.get(f"{API}/connected_accounts").json()["data"] == []
    assert acme_api.get(f"/t/globex/api/v1/connected_accounts/{carol.pk}").status_code == 401
    assert acme_api.delete(f"/t/globex/api/v1/connected_accounts/{carol.pk}").status_code == 401
    with tenant_context(globex):
        carol.refresh_from_db()
        assert carol.status == ConnectedAccount.Status.ACTIVE
    assert fake_providers.revoked == set()
    assert globex_api.get(f"/t/globex/api/v1/connected_accounts/{carol.pk}").status_code == 200


def test_alices_account_never_serves_bob(acme, gmail, fake_providers):
    with tenant_context(acme):
        _, alice_tokens = active_account(fake_providers, gmail, "alice")
        assert (
            account_credential_for_call(connection=gmail, identifier="alice")
            == alice_tokens["access_token"]
        )
        for identifier in ("bob", "Alice", "alice ", ""):
            with pytest.raises(ApplicationError) as excinfo:
                account_credential_for_call(connection=gmail, identifier=identifier)
            assert excinfo.value.code == "no_active_account"
            assert excinfo.value.status == 409
            assert alice_tokens["access_token"] not in str(excinfo.value.details)


def test_credential_is_refused_for_pending_revoked_and_expired_accounts(
    acme, gmail, fake_providers
):
    with tenant_context(acme):
        ConnectedAccount.objects.create(connection=gmail, identifier="pending")
        revoked, _ = active_account(fake_providers, gmail, "revoked")
        account_revoke(account=revoked, actor="tests")
        ConnectedAccount.objects.create(
            connection=gmail, identifier="expired", status=ConnectedAccount.Status.EXPIRED
        )
        codes = {}
        for identifier in ("pending", "revoked", "expired"):
            with pytest.raises(ApplicationError) as excinfo:
                account_credential_for_call(connection=gmail, identifier=identifier)
            codes[identifier] = excinfo.value.code
    assert codes == {
        "pending": "no_active_account",
        "revoked": "no_active_account",
        "expired": "account_expired",
    }


def test_api_key_account_round_trips_and_revokes_without_provider_call(
    acme, acme_api, fake_providers
):
    with tenant_context(acme):
        connection = api_key_connection()
        account = ConnectedAccount.objects.create(connection=connection, identifier="alice")
        account_store_api_key(account=account, api_key="ghp_personal_123", actor="tests")
        assert (
            account_credential_for_call(connection=connection, identifier="alice")
            == "ghp_personal_123"
        )

    response = acme_api.delete(f"{API}/connected_accounts/{account.pk}")

    assert response.json()["status"] == "REVOKED"
    assert fake_providers.revocations == []
    with tenant_context(acme):
        assert not Secret.objects.filter(owner_type="account", owner_id=account.pk).exists()
