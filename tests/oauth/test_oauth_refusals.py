"""Each way a client can get the OAuth flow wrong is refused with the RFC's error code, in JSON,
and issues nothing."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import httpx
import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context

from tests.gateway.test_mcp_support import modern_post

from .clients import REDIRECT_URI
from .support import Browser


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def register(live, slug: str = "acme", redirect_uris: list[str] | None = None) -> httpx.Response:  # noqa: ANN001
    return httpx.post(
        f"{live.issuer(slug)}/register",
        json={
            "redirect_uris": redirect_uris or [REDIRECT_URI],
            "client_name": "refusal tests",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        },
    )


def authorize_url(live, client_id: str, challenge: str, **overrides: str) -> str:  # noqa: ANN001
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": live.mcp_url("acme/summarizer"),
        "scope": "mcp:tools",
        **overrides,
    }
    return f"{live.issuer('acme')}/authorize?{urlencode(params)}"


async def code_for(live, login: str) -> tuple[str, str, str]:  # noqa: ANN001
    """(client_id, code, verifier) after a real sign-in and consent."""
    client_id = register(live).json()["client_id"]
    verifier, challenge = pkce()
    got = await Browser(login=login, stop_at=REDIRECT_URI).authorize(
        authorize_url(live, client_id, challenge)
    )
    assert got["state"] == "st-1" and "code" in got, got
    return client_id, got["code"], verifier


def exchange(live, client_id: str, code: str, verifier: str, **extra: str) -> httpx.Response:  # noqa: ANN001
    return httpx.post(
        f"{live.issuer('acme')}/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            **extra,
        },
    )


def tokens_of(live, identifier: str) -> int:  # noqa: ANN001
    from configs.models import SessionToken

    with tenant_context(live.tenants["acme"]):
        return SessionToken.objects.filter(identifier=identifier).count()


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == error


async def test_wrong_pkce_verifier_is_invalid_grant_and_spends_the_code(oauth_live):
    client_id, code, verifier = await code_for(oauth_live, "erin")
    wrong = exchange(oauth_live, client_id, code, secrets.token_urlsafe(48))
    assert_oauth_error(wrong, 400, "invalid_grant")
    assert "PKCE" in wrong.json()["error_description"]
    # The code is good for one attempt only: the right verifier now is too late.
    assert_oauth_error(exchange(oauth_live, client_id, code, verifier), 400, "invalid_grant")
    assert await sync_to_async(tokens_of)(oauth_live, "erin@example.test") == 0


async def test_reused_code_is_refused_and_revokes_what_the_first_use_issued(oauth_live):
    client_id, code, verifier = await code_for(oauth_live, "frank")
    first = exchange(oauth_live, client_id, code, verifier)
    assert first.status_code == 200, first.text
    access = first.json()["access_token"]
    mcp = oauth_live.mcp_url("acme/summarizer")
    assert modern_post(mcp, access, "tools/list").status_code == 200
    assert_oauth_error(exchange(oauth_live, client_id, code, verifier), 400, "invalid_grant")
    assert modern_post(mcp, access, "tools/list").status_code == 401
    refreshed = httpx.post(
        f"{oauth_live.issuer('acme')}/token",
        data={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "refresh_token": first.json()["refresh_token"],
        },
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")
    assert await sync_to_async(tokens_of)(oauth_live, "frank@example.test") == 1


async def test_a_code_whose_grant_was_revoked_before_the_exchange_is_refused(oauth_live):
    from gateway.models import OAuthGrant
    from gateway.oauth.grants import grant_revoke

    client_id, code, verifier = await code_for(oauth_live, "rita")

    def revoke() -> None:
        with tenant_context(oauth_live.tenants["acme"]):
            grant = OAuthGrant.objects.select_related("client").get(client__client_id=client_id)
            grant_revoke(grant=grant, actor="user:rita@example.test")

    await sync_to_async(revoke)()
    refused = exchange(oauth_live, client_id, code, verifier)
    assert_oauth_error(refused, 400, "invalid_grant")
    assert "revoked" in refused.json()["error_description"]
    assert await sync_to_async(tokens_of)(oauth_live, "rita@example.test") == 0


async def test_code_exchanged_for_another_server_is_invalid_target(oauth_live):
    client_id, code, verifier = await code_for(oauth_live, "gina")
    other = exchange(
        oauth_live, client_id, code, verifier, resource=oauth_live.mcp_url("acme/other")
    )
    assert_oauth_error(other, 400, "invalid_target")
    assert await sync_to_async(tokens_of)(oauth_live, "gina@example.test") == 0


def test_unregistered_redirect_uri_is_json_not_a_redirect(oauth_live):
    client_id = register(oauth_live).json()["client_id"]
    _verifier, challenge = pkce()
    url = authorize_url(oauth_live, client_id, challenge, redirect_uri="http://127.0.0.1:9/evil")
    response = httpx.get(url)
    assert_oauth_error(response, 400, "invalid_request")
    assert "location" not in response.headers


def test_registration_with_a_redirect_uri_outside_the_allow_list_is_refused(oauth_live):
    for uri in ("http://evil.example/cb", "http://127.0.0.1:1@evil.example/cb", "javascript:x"):
        assert_oauth_error(register(oauth_live, redirect_uris=[uri]), 400, "invalid_redirect_uri")


def test_resource_naming_another_tenants_server_is_invalid_target(oauth_live):
    client_id = register(oauth_live).json()["client_id"]
    _verifier, challenge = pkce()
    for resource in (
        oauth_live.mcp_url("globex/summarizer"),
        f"{oauth_live.base_url}/t/oa-globex/mcp/{oauth_live.configs['acme/summarizer']}",
        "https://elsewhere.example/mcp",
    ):
        response = httpx.get(authorize_url(oauth_live, client_id, challenge, resource=resource))
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith(REDIRECT_URI) and "error=invalid_target" in location
        assert "st-1" in location and "code=" not in location


def test_missing_pkce_is_refused(oauth_live):
    client_id = register(oauth_live).json()["client_id"]
    response = httpx.get(
        authorize_url(oauth_live, client_id, "x" * 43, code_challenge_method="plain")
    )
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


def test_cimd_on_a_private_address_is_refused_without_fetching(oauth_live):
    documents = oauth_live.documents
    before = list(documents.requested)
    _verifier, challenge = pkce()
    for client_id in (
        f"https://127.0.0.2:{documents.port}/clients/private.json",
        "https://10.20.30.40/clients/private.json",
        "https://[::ffff:127.0.0.1]/clients/private.json",
    ):
        response = httpx.get(authorize_url(oauth_live, client_id, challenge))
        assert_oauth_error(response, 401, "invalid_client")
    assert documents.requested == before


def test_cimd_document_with_a_mismatched_client_id_is_refused(oauth_live):
    documents = oauth_live.documents
    url = documents.url("/clients/liar.json")
    documents.documents["/clients/liar.json"] = {
        "client_id": documents.url("/clients/someone-else.json"),
        "client_name": "Liar",
        "redirect_uris": [REDIRECT_URI],
    }
    _verifier, challenge = pkce()
    response = httpx.get(authorize_url(oauth_live, url, challenge))
    assert_oauth_error(response, 401, "invalid_client")
    assert "client_id" in response.json()["error_description"]


def test_cimd_document_whose_redirect_uris_are_not_allowed_is_refused(oauth_live):
    documents = oauth_live.documents
    url = documents.url("/clients/evil-redirect.json")
    documents.documents["/clients/evil-redirect.json"] = {
        "client_id": url,
        "redirect_uris": ["http://evil.example/cb"],
    }
    _verifier, challenge = pkce()
    response = httpx.get(authorize_url(oauth_live, url, challenge))
    assert_oauth_error(response, 401, "invalid_client")


def test_unknown_grant_type_and_bad_refresh_tokens_are_json_errors(oauth_live):
    token_url = f"{oauth_live.issuer('acme')}/token"
    client_id = register(oauth_live).json()["client_id"]
    assert_oauth_error(
        httpx.post(token_url, data={"grant_type": "password", "client_id": client_id}),
        400,
        "unsupported_grant_type",
    )
    assert_oauth_error(
        httpx.post(
            token_url,
            data={"grant_type": "refresh_token", "client_id": client_id, "refresh_token": "x"},
        ),
        400,
        "invalid_grant",
    )
    assert_oauth_error(
        httpx.post(token_url, data={"grant_type": "refresh_token", "client_id": "nobody"}),
        401,
        "invalid_client",
    )
    assert_oauth_error(httpx.get(token_url), 405, "invalid_request")


@pytest.mark.parametrize("approve", [False])
async def test_denied_consent_returns_access_denied_and_no_code(oauth_live, approve):
    client_id = register(oauth_live).json()["client_id"]
    _verifier, challenge = pkce()
    got = await Browser(login="hank", stop_at=REDIRECT_URI).authorize(
        authorize_url(oauth_live, client_id, challenge), approve=approve
    )
    assert got["error"] == "access_denied" and "code" not in got


async def test_the_idp_callback_is_accepted_only_from_the_browser_that_started(oauth_live):
    client_id = register(oauth_live).json()["client_id"]
    _verifier, challenge = pkce()
    callback = f"{oauth_live.issuer('acme')}/callback"
    started = Browser(login="judy", stop_at=callback)
    got = await started.authorize(authorize_url(oauth_live, client_id, challenge))
    # Another browser (an attacker handed the victim's callback URL) is refused.
    async with httpx.AsyncClient() as other:
        refused = await other.get(got["_location"])
    assert_oauth_error(refused, 403, "access_denied")
    # The browser that started it goes on to consent.
    resumed = await started.http.get(got["_location"])
    assert resumed.status_code == 302 and "/oauth/consent/" in resumed.headers["location"]
    async with httpx.AsyncClient() as other:
        consent = await other.get(resumed.headers["location"])
    assert_oauth_error(consent, 403, "access_denied")
    assert (await started.http.get(resumed.headers["location"])).status_code == 200


async def test_a_user_outside_the_allowed_email_domains_is_refused(oauth_live):
    from gateway.models import OAuthSettings

    def allow(domains: list[str]) -> None:
        with tenant_context(oauth_live.tenants["acme"]):
            OAuthSettings.objects.filter(pk=1).update(idp_allowed_email_domains=domains)

    await sync_to_async(allow)(["acme-corp.test"])
    try:
        client_id = register(oauth_live).json()["client_id"]
        _verifier, challenge = pkce()
        got = await Browser(login="kim", stop_at=REDIRECT_URI).authorize(
            authorize_url(oauth_live, client_id, challenge)
        )
    finally:
        await sync_to_async(allow)([])
    assert got["error"] == "access_denied" and "domain" in got["error_description"]
    assert "code" not in got


async def test_a_user_whose_e_mail_the_idp_has_not_verified_is_refused(oauth_live):
    """The identifier is the e-mail claim: unverified, anyone could claim anyone's address."""
    from audit.models import AuditEvent

    client_id = register(oauth_live).json()["client_id"]
    _verifier, challenge = pkce()
    got = await Browser(login="unverified-ulla", stop_at=REDIRECT_URI).authorize(
        authorize_url(oauth_live, client_id, challenge)
    )
    assert got["error"] == "access_denied" and "verified" in got["error_description"]
    assert "code" not in got

    def refusals() -> list[dict]:
        with tenant_context(oauth_live.tenants["acme"]):
            return [
                e.extra
                for e in AuditEvent.objects.filter(
                    event_type="oauth.refused", actor=f"oauth:{client_id}"
                )
            ]

    assert [r["reason"] for r in await sync_to_async(refusals)()] == [
        "The identity provider has not verified this e-mail address."
    ]


def test_unprintable_client_ids_and_challenges_are_refused_cleanly(oauth_live):
    client_id = register(oauth_live).json()["client_id"]
    token_url = f"{oauth_live.issuer('acme')}/token"
    assert_oauth_error(
        httpx.post(token_url, data={"grant_type": "authorization_code", "client_id": "a\x00b"}),
        401,
        "invalid_client",
    )
    response = httpx.get(authorize_url(oauth_live, client_id, "\x00" * 43))
    assert response.status_code == 302 and "error=invalid_request" in response.headers["location"]
