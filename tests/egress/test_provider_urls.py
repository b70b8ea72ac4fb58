"""A tenant admin who points a built-in connector at "this machine" gets nowhere.

Issue 11, point 1: a GitHub connection whose ``api_base_url`` spelt loopback in any of a dozen
ways was accepted, and ``execute_tool`` returned a loopback-only service's body after sending it
the user's GitHub token; a Gmail ``token_url`` on loopback received the tenant's client secret
and the PKCE verifier. Every spelling is now refused when saved (a 400 naming the field) and, for
a row that skipped validation, at connect time by the egress clients: the loopback listener
sees nothing at all.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from configs.models import Connection
from tests.egress.loopback_support import LOOPBACK_URLS, loopback, nothing_allowed  # noqa: F401
from tests.gateway.test_execution_support import _clean_rate_limits  # noqa: F401
from vault.models import ConnectedAccount, Secret
from vault.secrets import secret_put
from vault.services.provider import (
    TokenEndpointError,
    oauth_client_for,
    revoke_at_provider,
    token_request,
)
from vault.services.refresh import account_refresh

VARIANTS = sorted(LOOPBACK_URLS)
GITHUB_PAT = "ghp_users_own_token_" + "x" * 20
CLIENT_SECRET = "tenant-client-secret-" + "s" * 20
VERIFIER = "pkce-verifier-" + "v" * 60
REFRESH_TOKEN = "users-refresh-token-" + "r" * 20


def _url(variant: str, port: int) -> str:
    return LOOPBACK_URLS[variant].format(port=port)


def _field_error(response, field: str) -> None:  # noqa: ANN001
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "unsafe_url"
    assert body["error"]["details"]["field"] == field
    assert field in body["error"]["message"]


# ------------------------------------------------------------------ save time


@pytest.mark.parametrize("variant", VARIANTS)
def test_saving_a_github_api_base_url_on_loopback_is_a_field_error(
    acme, acme_api, nothing_allowed, loopback, variant  # noqa: F811
):
    response = acme_api.post(
        "/t/acme/api/v1/connections",
        {
            "name": "github",
            "connector": "github",
            "auth_type": "api_key",
            "settings": {"api_base_url": _url(variant, loopback.port)},
        },
        format="json",
    )
    _field_error(response, "api_base_url")
    with tenant_context(acme):
        assert not Connection.objects.filter(name="github").exists()


@pytest.mark.parametrize("variant", VARIANTS)
def test_changing_a_github_api_base_url_to_loopback_is_a_field_error(
    acme, acme_api, nothing_allowed, loopback, variant  # noqa: F811
):
    with tenant_context(acme):
        Connection.objects.create(name="github", connector="github", auth_type="api_key")
    response = acme_api.patch(
        "/t/acme/api/v1/connections/github",
        {"settings": {"api_base_url": _url(variant, loopback.port)}},
        format="json",
    )
    _field_error(response, "api_base_url")
    with tenant_context(acme):
        assert Connection.objects.get(name="github").settings == {}


@pytest.mark.parametrize("field", ["authorize_url", "token_url", "revoke_url"])
@pytest.mark.parametrize("variant", ["localhost", "short", "decimal", "ipv6", "metadata"])
def test_saving_an_oauth_endpoint_on_loopback_is_a_field_error(
    acme, acme_api, nothing_allowed, loopback, field, variant  # noqa: F811
):
    response = acme_api.post(
        "/t/acme/api/v1/connections",
        {
            "name": "gmail",
            "connector": "gmail",
            "auth_type": "oauth2",
            "settings": {"client_id": "cid", field: _url(variant, loopback.port)},
            "secrets": {"client_secret": CLIENT_SECRET},
        },
        format="json",
    )
    _field_error(response, field)


def test_a_host_name_that_does_not_resolve_is_a_field_error(acme, acme_api, nothing_allowed):  # noqa: F811
    response = acme_api.post(
        "/t/acme/api/v1/connections",
        {
            "name": "github",
            "connector": "github",
            "auth_type": "api_key",
            "settings": {"api_base_url": "https://ghe.does-not-exist.invalid/api/v3"},
        },
        format="json",
    )
    _field_error(response, "api_base_url")


def test_the_operator_allow_list_admits_a_listed_host(acme, acme_api):
    with override_settings(VMCP_SSRF_ALLOWED_HOSTS=["ghe.internal.test"]):
        response = acme_api.post(
            "/t/acme/api/v1/connections",
            {
                "name": "github",
                "connector": "github",
                "auth_type": "api_key",
                "settings": {"api_base_url": "https://ghe.internal.test/api/v3"},
            },
            format="json",
        )
    assert response.status_code == 201, response.content


# ------------------------------------------------------------------ call time


def _forced_github_row(acme, url: str) -> None:  # noqa: ANN001
    """A connection that skipped validation (an old row, a direct write), with alice's PAT."""
    with tenant_context(acme):
        connection = Connection.objects.create(
            name="github", connector="github", auth_type="api_key", settings={"api_base_url": url}
        )
        account = ConnectedAccount.objects.create(
            connection=connection,
            identifier="alice",
            status=ConnectedAccount.Status.ACTIVE,
            connected_at=timezone.now(),
        )
        secret_put(
            owner_type=Secret.OwnerType.ACCOUNT,
            owner_id=account.pk,
            field="api_key",
            value=GITHUB_PAT,
        )


@pytest.mark.parametrize("variant", VARIANTS)
def test_execute_tool_refuses_a_forced_loopback_api_base_url(
    acme, acme_api, nothing_allowed, loopback, variant  # noqa: F811
):
    _forced_github_row(acme, _url(variant, loopback.port))
    with override_settings(VMCP_TOOL_TIMEOUT_SECONDS=3):
        response = acme_api.post(
            "/t/acme/api/v1/execute_tool",
            {"tool_name": "github_get_authenticated_user", "identifier": "alice"},
            format="json",
        )
    assert response.status_code == 502, response.content
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert "refused to call GitHub" in error["message"]
    assert "internal-service" not in response.content.decode()
    assert loopback.seen == []
    assert GITHUB_PAT not in response.content.decode()


# ------------------------------------------------------------------ OAuth endpoints


def _gmail_row(acme, **urls: str) -> Connection:  # noqa: ANN001
    with tenant_context(acme):
        connection = Connection.objects.create(
            name="gmail",
            connector="gmail",
            auth_type="oauth2",
            settings={"client_id": "cid", **urls},
        )
        secret_put(
            owner_type=Secret.OwnerType.CONNECTION,
            owner_id=connection.pk,
            field="client_secret",
            value=CLIENT_SECRET,
        )
        return connection


@pytest.mark.parametrize("variant", ["localhost", "short", "ipv6", "ipv4-mapped"])
def test_the_code_exchange_never_reaches_a_loopback_token_url(
    acme, nothing_allowed, loopback, variant  # noqa: F811
):
    connection = _gmail_row(acme, token_url=_url(variant, loopback.port))
    with tenant_context(acme):
        client = oauth_client_for(connection)
        with pytest.raises(TokenEndpointError, match="non-public address") as refused:
            token_request(
                client,
                {
                    "grant_type": "authorization_code",
                    "code": "the-code",
                    "redirect_uri": "http://testserver/oauth/callback",
                    "code_verifier": VERIFIER,
                },
                attempts=3,
                backoff_seconds=0,
            )
    assert refused.value.kind == "failed"  # a refusal is not retried as a network hiccup
    assert loopback.seen == []
    assert CLIENT_SECRET not in refused.value.message


def test_refresh_never_reaches_a_loopback_token_url(acme, nothing_allowed, loopback):  # noqa: F811
    connection = _gmail_row(acme, token_url=_url("localhost", loopback.port))
    with tenant_context(acme):
        account = ConnectedAccount.objects.create(
            connection=connection,
            identifier="alice",
            status=ConnectedAccount.Status.ACTIVE,
            token_expires_at=timezone.now() - timedelta(minutes=1),
            connected_at=timezone.now(),
        )
        secret_put(
            owner_type=Secret.OwnerType.ACCOUNT,
            owner_id=account.pk,
            field="oauth_tokens",
            value=f'{{"access_token": "old", "refresh_token": "{REFRESH_TOKEN}"}}',
        )
        with pytest.raises(Exception, match="non-public address|refresh"):
            account_refresh(account=account)
    assert loopback.seen == []
    assert CLIENT_SECRET.encode() not in loopback.everything_received()


def test_revocation_never_reaches_a_loopback_revoke_url(acme, nothing_allowed, loopback):  # noqa: F811
    connection = _gmail_row(acme, revoke_url=_url("short", loopback.port))
    with tenant_context(acme):
        reason = revoke_at_provider(oauth_client_for(connection), "users-access-token")
    assert "non-public address" in reason
    assert loopback.seen == []
