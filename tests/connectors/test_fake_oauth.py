"""The fake providers' OAuth endpoints refuse what the real ones refuse.

Other suites (the vault's connect flow, token refresh) rely on these checks, so they are
pinned here with plain HTTP calls.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from connectors import CONNECTORS
from tests.fakes.providers import FakeProviders, pkce_pair, slack_user_id

REDIRECT = "http://127.0.0.1:8000/t/acme/connect/callback"


def authorize_url(fake: FakeProviders, provider: str, challenge: str | None, **extra: str) -> str:
    params = {
        "client_id": "app-1",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st-123",
        "scope": "https://www.googleapis.com/auth/gmail.readonly",
        **({"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}),
        **extra,
    }
    return f"{fake.oauth_urls(provider)['authorize_url']}?{httpx.QueryParams(params)}"


def consent(fake: FakeProviders, provider: str = "google", login: str = "alice") -> tuple[str, str]:
    """Register the app, let ``login`` allow it; returns (code, verifier)."""
    fake.register_client(provider, "app-1", "s3cret", REDIRECT)
    verifier, challenge = pkce_pair()
    location = fake.approve(authorize_url(fake, provider, challenge), login=login)
    params = httpx.URL(location).params
    assert params["state"] == "st-123"
    return params["code"], verifier


def exchange(fake: FakeProviders, provider: str, **fields: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "client_id": "app-1",
        "client_secret": "s3cret",
        "redirect_uri": REDIRECT,
        **fields,
    }
    return httpx.post(fake.oauth_urls(provider)["token_url"], data=data)


def test_consent_issues_a_code_whose_tokens_belong_to_the_consenting_user(
    fake_providers: FakeProviders,
) -> None:
    code, verifier = consent(fake_providers, login="alice")

    response = exchange(fake_providers, "google", code=code, code_verifier=verifier)

    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "https://www.googleapis.com/auth/gmail.readonly"
    profile = httpx.get(
        fake_providers.url("gmail") + "/gmail/v1/users/me/profile",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert profile.json()["emailAddress"] == "alice@example.com"
    assert [(t.grant_type, t.outcome, t.user) for t in fake_providers.token_requests] == [
        ("authorization_code", "ok", "alice")
    ]


def test_a_pkce_verifier_that_does_not_match_the_challenge_is_refused(
    fake_providers: FakeProviders,
) -> None:
    code, _ = consent(fake_providers)

    response = exchange(fake_providers, "google", code=code, code_verifier=pkce_pair()[0])

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


def test_an_authorization_code_works_once_and_reuse_revokes_its_tokens(
    fake_providers: FakeProviders,
) -> None:
    code, verifier = consent(fake_providers)
    first = exchange(fake_providers, "google", code=code, code_verifier=verifier)

    second = exchange(fake_providers, "google", code=code, code_verifier=verifier)

    assert first.status_code == 200
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert first.json()["access_token"] in fake_providers.revoked


def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
    fake_providers: FakeProviders,
) -> None:
    code, verifier = consent(fake_providers)

    response = exchange(
        fake_providers, "google", code=code, code_verifier=verifier, redirect_uri=REDIRECT + "x"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(fake_providers: FakeProviders) -> None:
    fake_providers.code_ttl = 0
    code, verifier = consent(fake_providers)

    response = exchange(fake_providers, "google", code=code, code_verifier=verifier)

    assert response.status_code == 400


def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    fake_providers: FakeProviders,
) -> None:
    fake_providers.register_client("google", "app-1", "s3cret", REDIRECT)
    url = authorize_url(fake_providers, "google", pkce_pair()[1], redirect_uri="https://evil.test/")

    response = httpx.get(url)

    assert response.status_code == 400
    assert "redirect_uri_mismatch" in response.text


def test_an_authorization_request_without_pkce_is_sent_back_with_invalid_request(
    fake_providers: FakeProviders,
) -> None:
    fake_providers.register_client("google", "app-1", "s3cret", REDIRECT)

    response = httpx.get(authorize_url(fake_providers, "google", None))

    assert response.status_code == 302
    assert dict(httpx.URL(response.headers["location"]).params) == {
        "error": "invalid_request",
        "error_description": "code_challenge is required",
        "state": "st-123",
    }


def test_the_consent_page_prefills_the_login_hint_and_lists_the_scopes(
    fake_providers: FakeProviders,
) -> None:
    fake_providers.register_client("google", "app-1", "s3cret", REDIRECT)

    page = httpx.get(authorize_url(fake_providers, "google", pkce_pair()[1], login_hint="bob"))

    assert page.status_code == 200
    assert 'id="login" name="login" value="bob"' in page.text
    assert "<li>https://www.googleapis.com/auth/gmail.readonly</li>" in page.text
    assert 'id="allow"' in page.text and 'id="deny"' in page.text


def test_denying_consent_redirects_with_access_denied(fake_providers: FakeProviders) -> None:
    fake_providers.register_client("google", "app-1", "s3cret", REDIRECT)

    location = fake_providers.approve(
        authorize_url(fake_providers, "google", pkce_pair()[1]), allow=False
    )

    assert location == f"{REDIRECT}?error=access_denied&state=st-123"


def test_refresh_rotates_when_asked_and_the_old_refresh_token_dies(
    fake_providers: FakeProviders,
) -> None:
    fake_providers.register_client("google", "app-1", "s3cret", REDIRECT)
    fake_providers.rotate_refresh_tokens = True
    refresh = fake_providers.issue_token("google", "alice", client_id="app-1")["refresh_token"]
    data = {"grant_type": "refresh_token", "refresh_token": refresh}
    token_url = fake_providers.oauth_urls("google")["token_url"]

    first = httpx.post(token_url, data=data, auth=("app-1", "s3cret"))
    replay = httpx.post(token_url, data=data, auth=("app-1", "s3cret"))

    assert first.status_code == 200 and first.json()["refresh_token"] != refresh
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert [t.outcome for t in fake_providers.token_requests] == ["ok", "invalid_grant"]


def test_wrong_client_secret_is_invalid_client(fake_providers: FakeProviders) -> None:
    code, verifier = consent(fake_providers)

    response = exchange(
        fake_providers, "google", code=code, code_verifier=verifier, client_secret="nope"
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_token_endpoint_outages_are_counted(fake_providers: FakeProviders) -> None:
    code, verifier = consent(fake_providers)
    fake_providers.fail_next_token_requests = 1

    outage = exchange(fake_providers, "google", code=code, code_verifier=verifier)
    retried = exchange(fake_providers, "google", code=code, code_verifier=verifier)

    assert (outage.status_code, retried.status_code) == (503, 200)
    assert [t.outcome for t in fake_providers.token_requests] == ["server_error", "ok"]


def test_slack_nests_the_user_token_and_answers_errors_with_200(
    fake_providers: FakeProviders,
) -> None:
    code, verifier = consent(fake_providers, "slack", login="alice")
    token_url = fake_providers.oauth_urls("slack")["token_url"]
    data = {"code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}

    ok = httpx.post(token_url, data=data, auth=("app-1", "s3cret")).json()
    refreshed = httpx.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": ok["authed_user"]["refresh_token"]},
        auth=("app-1", "s3cret"),
    ).json()
    reused = httpx.post(token_url, data=data, auth=("app-1", "s3cret"))

    user = ok["authed_user"]
    assert ok["ok"] is True and ok["team"]["id"] == "T0FAKE0001"
    assert user["id"] == slack_user_id("alice") and user["token_type"] == "user"
    assert set(user) == {"id", "scope", "access_token", "token_type", "refresh_token", "expires_in"}
    assert refreshed["ok"] is True and refreshed["token_type"] == "user"
    assert (reused.status_code, reused.json()) == (200, {"ok": False, "error": "invalid_code"})
    assert "authed_user" not in refreshed


def test_github_answers_form_encoded_unless_json_is_asked_for(
    fake_providers: FakeProviders,
) -> None:
    code, verifier = consent(fake_providers, "github")
    token_url = fake_providers.oauth_urls("github")["token_url"]
    base = {"client_id": "app-1", "client_secret": "s3cret", "redirect_uri": REDIRECT}

    refused = httpx.post(token_url, data={**base, "code": "bogus"})
    ok = httpx.post(
        token_url,
        data={**base, "code": code, "code_verifier": verifier},
        headers=dict(CONNECTORS["github"].oauth.token_request_headers),  # type: ignore[union-attr]
    )

    assert refused.status_code == 200
    assert dict(httpx.QueryParams(refused.text))["error"] == "bad_verification_code"
    assert ok.json()["token_type"] == "bearer" and ok.json()["access_token"].startswith("ghu_")


@pytest.mark.parametrize("slug", ["gmail", "slack", "github"])
def test_revoking_through_the_connector_spec_kills_the_token(
    fake_providers: FakeProviders, slug: str
) -> None:
    provider = {"gmail": "google"}.get(slug, slug)
    fake_providers.register_client(provider, "app-1", "s3cret", REDIRECT)
    token = fake_providers.issue_token(provider, "alice", client_id="app-1")["access_token"]
    spec = CONNECTORS[slug].oauth
    assert spec is not None
    request: dict[str, Any] = (
        spec.revoke_request(
            token,
            client_id="app-1",
            client_secret="s3cret",
            revoke_url=fake_providers.oauth_urls(provider)["revoke_url"],
        )
        or {}
    )

    response = httpx.request(**request)

    assert response.status_code in (200, 204)
    assert token in fake_providers.revoked
    assert [(r.provider, r.user, r.kind) for r in fake_providers.revocations][0] == (
        provider,
        "alice",
        "access",
    )


def test_basic_client_authentication_is_accepted(fake_providers: FakeProviders) -> None:
    code, verifier = consent(fake_providers)
    credentials = base64.b64encode(b"app-1:s3cret").decode()

    response = httpx.post(
        fake_providers.oauth_urls("google")["token_url"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT,
        },
        headers={"Authorization": f"Basic {credentials}"},
    )

    assert response.status_code == 200
