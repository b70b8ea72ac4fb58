"""A local stand-in for Google, Slack and GitHub at the HTTP boundary.

``FakeProviders`` is a real HTTP server (Starlette on uvicorn, in a background thread, on a
free 127.0.0.1 port). It implements each provider's OAuth 2.0 authorization-code + PKCE flow
and a realistic subset of their REST APIs, with the providers' own response and error
shapes, so code under test runs exactly as it would against the real services.

Usage, without pytest::

    with FakeProviders() as fake:
        fake.register_client("google", "cid", "secret", "http://127.0.0.1:8000/cb")
        token = fake.issue_token("gmail", "alice")["access_token"]
        httpx.get(fake.url("gmail") + "/gmail/v1/users/me/profile",
                  headers={"Authorization": f"Bearer {token}"})

With pytest, ``tests/fakes/plugin.py`` provides the ``fake_providers`` fixture (one server per
session, state reset before every test).

Providers are named "google", "slack" and "github"; connector slugs ("gmail",
"googlecalendar") are accepted wherever a provider is expected.

URLs
    ``url(p)``: API base to use as a connection's base URL: google → ``/google`` (Gmail
    paths ``/gmail/v1/...``; ``url("googlecalendar")`` → ``/google/calendar/v3``), slack →
    ``/slack/api``, github → ``/github``. ``oauth_urls(p)``: authorize/token/revoke URLs
    (GitHub's revoke URL contains ``{client_id}``, like the real one).

OAuth (all providers)
    authorize (GET) checks the client id, the exact registered redirect_uri (an error page,
    no redirect, when either is wrong), ``response_type=code`` (required for Google),
    ``state``, and ``code_challenge`` with ``code_challenge_method=S256`` (``require_pkce``).
    It renders a consent page: provider, scopes, a "login as" field (``#login``, prefilled
    from ``login_hint`` or "user") and Allow/Deny buttons (``#allow``, ``#deny``); the
    decision 302-redirects to ``redirect_uri?code=…&state=…`` or ``?error=access_denied``.
    ``approve(authorization_url, login=…)`` does that without a browser.
    The token endpoint accepts client_secret_post and client_secret_basic, single-use codes
    valid ``code_ttl`` seconds, checks redirect_uri and the PKCE verifier, and refreshes
    (``rotate_refresh_tokens`` issues a new refresh token and revokes the old one). Shapes:
    Google ``{access_token, expires_in, refresh_token, scope, token_type}`` or 400
    ``{"error": "invalid_grant"}``; Slack 200 ``{"ok": true, "authed_user": {...}, "team":
    {...}}`` for codes, top-level tokens for refreshes, 200 ``{"ok": false, "error": ...}``
    on failure; GitHub form-encoded unless ``Accept: application/json``, errors with 200
    (``bad_verification_code``, ``bad_refresh_token``, ``incorrect_client_credentials``).
    Revocation: Google POST ``token=``; Slack ``auth.revoke`` with the token as bearer;
    GitHub ``DELETE /applications/{client_id}/token`` with basic auth and JSON body.

APIs
    Bearer tokens only; an unknown, revoked or expired token gets the provider's real 401
    (Slack: 200 ``{"ok": false, "error": "invalid_auth" | "token_revoked" |
    "token_expired"}``). Each user has their own data (mailbox, calendars, Slack workspace;
    GitHub repositories are shared, as on github.com). Implemented: Gmail messages
    (list/get/send/modify/trash/untrash/delete/batchModify), labels, drafts, threads,
    profile; Calendar calendarList, events (list/get/insert/patch/delete/quickAdd), freeBusy;
    Slack chat.*, conversations.*, reactions.*, users.*, auth.test; GitHub user, user/repos,
    repos get, issues list/get/create/update, comments. Any other route is recorded and
    answered ``{}`` (Slack: ``{"ok": true}``) so every catalog tool can be exercised.

Inspecting and steering
    ``requests``: every API request (``RecordedRequest``: provider, method, raw path below
    the API base, query (a str, or a list when repeated), json, form, the token's user or
    None, headers without Authorization). Tokens are never recorded.
    ``token_requests``: every token-endpoint call (grant_type, client_id, outcome, user).
    ``revoked``: revoked token strings; ``revocations``: (provider, user, kind) records.
    ``fail_next(p, status, retry_after=…, error=…, delay=…, times=…)``, ``delay_next(p, s)``;
    ``fail_next_token_requests`` (503s), ``token_latency`` (seconds of sleep per token call,
    so concurrent refreshes overlap), ``access_token_ttl``, ``code_ttl``;
    ``expire_access_tokens(p, user)``, ``revoke_user(p, user)``, ``reset()``.

Layout: ``server`` (``FakeProviders``: lifecycle, state, steering, API plumbing), ``oauth`` and
``oauth_responses`` (the OAuth flow), ``gmail`` + ``mailbox``, ``google_calendar``, ``slack``,
``github`` (each provider's API), ``base`` (what they share).
"""

from .base import (
    PROVIDERS,
    SLACK_TEAM,
    RecordedRequest,
    Revocation,
    TokenRequest,
    pkce_pair,
    provider_name,
    s256,
    slack_user_id,
)
from .server import FakeProviders

__all__ = [
    "PROVIDERS",
    "SLACK_TEAM",
    "FakeProviders",
    "RecordedRequest",
    "Revocation",
    "TokenRequest",
    "pkce_pair",
    "provider_name",
    "s256",
    "slack_user_id",
]
