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
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

PROVIDERS = ("google", "slack", "github")
_ALIASES = {"gmail": "google", "googlecalendar": "google"}
_API_PREFIX = {"google": "/google", "slack": "/slack/api", "github": "/github"}
_DISPLAY = {"google": "Google", "slack": "Slack", "github": "GitHub"}
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

SLACK_TEAM = {"id": "T0FAKE0001", "name": "Fake Workspace", "domain": "fake-workspace"}


def provider_name(name: str) -> str:
    provider = _ALIASES.get(name, name)
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {name!r}")
    return provider


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge) pair, as a client would make."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def slack_user_id(user: str) -> str:
    return "U" + hashlib.sha1(user.encode()).hexdigest()[:9].upper()


@dataclass(frozen=True)
class RecordedRequest:
    provider: str
    method: str
    path: str
    query: dict[str, str | list[str]]
    json: Any
    form: dict[str, str] | None
    user: str | None
    headers: dict[str, str]


@dataclass(frozen=True)
class TokenRequest:
    provider: str
    grant_type: str | None
    client_id: str | None
    outcome: str  # "ok" or the error code returned
    user: str | None
    at: float


@dataclass(frozen=True)
class Revocation:
    provider: str
    user: str
    kind: str  # "access" or "refresh"


@dataclass
class _Client:
    secret: str
    redirect_uris: set[str]


@dataclass
class _Code:
    provider: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    user: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False
    issued_tokens: list[str] = field(default_factory=list)


@dataclass
class _Token:
    provider: str
    user: str
    kind: str
    scopes: tuple[str, ...]
    client_id: str | None
    expires_at: float | None


@dataclass
class _Forced:
    status: int | None
    retry_after: float | None
    error: str | None
    message: str | None
    delay: float


@dataclass
class _Call:
    """One authenticated API request, as handlers see it."""

    request: Request
    user: str
    query: dict[str, str | list[str]]
    json: Any
    form: dict[str, str] | None

    def arg(self, name: str, default: Any = None) -> Any:
        """A Slack-style argument from the query, the form or the JSON body."""
        for source in (self.json, self.form, self.query):
            if isinstance(source, dict) and name in source:
                return source[name]
        return default


class FakeProviders:
    """The fake Google, Slack and GitHub; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._lock = threading.RLock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=self._routes())
        self.base_url = ""
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeProviders:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        port = sock.getsockname()[1]
        self.base_url = f"http://{self.host}:{port}"
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=5
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="fake-providers"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake providers server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every client, token, recorded request and data change; settings to defaults."""
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.token_requests: list[TokenRequest] = []
            self.revoked: set[str] = set()
            self.revocations: list[Revocation] = []
            self.rotate_refresh_tokens = False
            self.require_pkce = True
            self.fail_next_token_requests = 0
            self.token_latency = 0.0
            self.access_token_ttl = 3600
            self.code_ttl = 600.0
            self._clients: dict[tuple[str, str], _Client] = {}
            self._pending: dict[str, dict[str, Any]] = {}
            self._codes: dict[str, _Code] = {}
            self._tokens: dict[str, _Token] = {}
            self._forced: dict[str, deque[_Forced]] = {p: deque() for p in PROVIDERS}
            self._mailboxes: dict[str, _Mailbox] = {}
            self._calendars: dict[str, _Calendars] = {}
            self._workspaces: dict[str, _Workspace] = {}
            self._github = _GitHub()

    # -- URLs -------------------------------------------------------------------------------

    def url(self, provider: str) -> str:
        """The API base URL for a provider, or for a connector slug."""
        if provider == "googlecalendar":
            return f"{self.base_url}/google/calendar/v3"
        return self.base_url + _API_PREFIX[provider_name(provider)]

    def oauth_urls(self, provider: str) -> dict[str, str]:
        base = self.base_url
        return {
            "google": {
                "authorize_url": f"{base}/google/o/oauth2/v2/auth",
                "token_url": f"{base}/google/token",
                "revoke_url": f"{base}/google/revoke",
            },
            "slack": {
                "authorize_url": f"{base}/slack/oauth/v2/authorize",
                "token_url": f"{base}/slack/api/oauth.v2.access",
                "revoke_url": f"{base}/slack/api/auth.revoke",
            },
            "github": {
                "authorize_url": f"{base}/github/login/oauth/authorize",
                "token_url": f"{base}/github/login/oauth/access_token",
                "revoke_url": f"{base}/github/applications/{{client_id}}/token",
            },
        }[provider_name(provider)]

    # -- steering from tests ----------------------------------------------------------------

    def register_client(
        self, provider: str, client_id: str, client_secret: str, redirect_uri: str | Iterable[str]
    ) -> None:
        uris = {redirect_uri} if isinstance(redirect_uri, str) else set(redirect_uri)
        with self._lock:
            self._clients[(provider_name(provider), client_id)] = _Client(client_secret, uris)

    def issue_token(
        self,
        provider: str,
        user: str,
        *,
        scopes: Iterable[str] = (),
        expires_in: int = 3600,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Tokens valid for ``user``, as if they had completed the OAuth flow."""
        provider = provider_name(provider)
        with self._lock:
            access, refresh = self._issue_pair(
                provider, user, tuple(scopes), client_id, expires_in=expires_in
            )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": expires_in,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }

    def fail_next(
        self,
        provider: str,
        status: int | None = 500,
        *,
        retry_after: float | None = None,
        error: str | None = None,
        message: str | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` authenticated API calls fail (after ``delay`` seconds).

        ``error`` is a Slack error code (answered as 200 ``{"ok": false}``) or, for the others,
        put in the message.
        """
        forced = _Forced(status, retry_after, error, message, delay)
        with self._lock:
            self._forced[provider_name(provider)].extend([forced] * times)

    def delay_next(self, provider: str, seconds: float, *, times: int = 1) -> None:
        """Make the next API calls slow but successful (for client timeout tests)."""
        self.fail_next(provider, None, delay=seconds, times=times)

    def expire_access_tokens(self, provider: str, user: str | None = None) -> None:
        with self._lock:
            for token in self._tokens.values():
                if token.provider == provider_name(provider) and token.kind == "access":
                    if user is None or token.user == user:
                        token.expires_at = time.time() - 1

    def revoke_user(self, provider: str, user: str) -> None:
        """The user removes the app's access at the provider: all their tokens die."""
        with self._lock:
            for value, token in self._tokens.items():
                if token.provider == provider_name(provider) and token.user == user:
                    self._revoke(value)

    def requests_for(self, provider: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.provider == provider_name(provider)]

    def approve(self, authorization_url: str, *, login: str = "user", allow: bool = True) -> str:
        """Play the user on the consent page; returns the redirect Location (the callback)."""
        with httpx.Client(follow_redirects=False, timeout=10) as client:
            page = client.get(authorization_url)
            if page.status_code != 200:
                raise AssertionError(f"authorize refused ({page.status_code}): {page.text[:300]}")
            match = re.search(r'name="request_id" value="([^"]+)"', page.text)
            action = re.search(r'<form method="post" action="([^"]+)"', page.text)
            assert match and action, "consent page without a form"
            decision = client.post(
                httpx.URL(authorization_url).join(html.unescape(action.group(1))),
                data={
                    "request_id": match.group(1),
                    "login": login,
                    "decision": "allow" if allow else "deny",
                },
            )
        if decision.status_code != 302:
            raise AssertionError(f"consent failed ({decision.status_code}): {decision.text}")
        return decision.headers["location"]

    # -- state helpers (call with the lock held) ---------------------------------------------

    def _issue_pair(
        self,
        provider: str,
        user: str,
        scopes: tuple[str, ...],
        client_id: str | None,
        *,
        expires_in: int | None = None,
        with_refresh: bool = True,
    ) -> tuple[str, str | None]:
        ttl = self.access_token_ttl if expires_in is None else expires_in
        prefix_access, prefix_refresh = {
            "google": ("ya29.", "1//"),
            "slack": ("xoxe.xoxp-1-", "xoxe-1-"),
            "github": ("ghu_", "ghr_"),
        }[provider]
        access = prefix_access + secrets.token_urlsafe(24)
        self._tokens[access] = _Token(
            provider, user, "access", scopes, client_id, time.time() + ttl
        )
        refresh = None
        if with_refresh:
            refresh = prefix_refresh + secrets.token_urlsafe(32)
            self._tokens[refresh] = _Token(provider, user, "refresh", scopes, client_id, None)
        return access, refresh

    def _revoke(self, value: str) -> None:
        token = self._tokens.get(value)
        if token is None or value in self.revoked:
            return
        self.revoked.add(value)
        self.revocations.append(Revocation(token.provider, token.user, token.kind))

    def _token_user(self, provider: str, value: str | None) -> tuple[str | None, str]:
        """(user, reason) for an API bearer token; reason is empty when the token is good."""
        if not value:
            return None, "not_authed"
        token = self._tokens.get(value)
        if token is None or token.provider != provider or token.kind != "access":
            return None, "invalid_auth"
        if value in self.revoked:
            return None, "token_revoked"
        if token.expires_at is not None and token.expires_at <= time.time():
            return None, "token_expired"
        return token.user, ""

    # -- routes -------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        routes = [
            Route("/google/o/oauth2/v2/auth", self._authorize("google")),
            Route("/slack/oauth/v2/authorize", self._authorize("slack")),
            Route("/github/login/oauth/authorize", self._authorize("github")),
            Route("/{provider}/_consent", self._consent, methods=["POST"]),
            Route("/google/token", self._token_endpoint("google"), methods=["POST"]),
            Route("/slack/api/oauth.v2.access", self._token_endpoint("slack"), methods=["POST"]),
            Route(
                "/github/login/oauth/access_token",
                self._token_endpoint("github"),
                methods=["POST"],
            ),
            Route("/google/revoke", self._google_revoke, methods=["POST"]),
            Route("/slack/api/auth.revoke", self._slack_revoke, methods=["GET", "POST"]),
            Route(
                "/github/applications/{client_id}/token", self._github_revoke, methods=["DELETE"]
            ),
        ]
        for provider, path, handler, methods in _api_routes():
            routes.append(
                Route(_API_PREFIX[provider] + path, self._api(provider, handler), methods=methods)
            )
        for provider in PROVIDERS:
            routes.append(
                Route(
                    _API_PREFIX[provider] + "/{rest:path}",
                    self._api(provider, _catch_all),
                    methods=_ALL_METHODS,
                )
            )
        return routes

    # -- OAuth: authorize and consent ---------------------------------------------------------

    def _authorize(self, provider: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            params = dict(request.query_params)
            client_id = params.get("client_id", "")
            redirect_uri = params.get("redirect_uri", "")
            with self._lock:
                client = self._clients.get((provider, client_id))
            if client is None:
                return _error_page(401, "invalid_client", "The OAuth client was not found.")
            if redirect_uri not in client.redirect_uris:
                return _error_page(
                    400,
                    "redirect_uri_mismatch",
                    "The redirect_uri does not match one registered for the client.",
                )
            state = params.get("state")
            problem = None
            response_type = params.get("response_type")
            if response_type != "code" and (provider == "google" or response_type is not None):
                problem = "response_type must be 'code'"
            elif not state:
                problem = "state is required"
            elif self.require_pkce and not params.get("code_challenge"):
                problem = "code_challenge is required"
            elif params.get("code_challenge") and params.get("code_challenge_method") != "S256":
                problem = "code_challenge_method must be S256"
            if problem:
                query = {"error": "invalid_request", "error_description": problem}
                if state:
                    query["state"] = state
                return _redirect(redirect_uri, query)
            scope_param = "user_scope" if provider == "slack" else "scope"
            separator = "," if provider == "slack" else " "
            raw_scopes = params.get(scope_param) or params.get("scope") or ""
            scopes = tuple(s for s in re.split(rf"[{separator} ,]+", raw_scopes) if s)
            request_id = secrets.token_urlsafe(16)
            with self._lock:
                self._pending[request_id] = {
                    "provider": provider,
                    "client_id": client_id,
                    "redirect_uri": redirect_uri,
                    "state": state,
                    "challenge": params.get("code_challenge"),
                    "scopes": scopes,
                }
            login = params.get("login_hint") or params.get("login") or "user"
            return HTMLResponse(_consent_page(provider, request_id, scopes, login, client_id))

        return endpoint

    async def _consent(self, request: Request) -> Response:
        form = await request.form()
        with self._lock:
            pending = self._pending.pop(str(form.get("request_id", "")), None)
        if pending is None or pending["provider"] != request.path_params["provider"]:
            return _error_page(400, "invalid_request", "This consent request is unknown or used.")
        query: dict[str, str] = {}
        if form.get("decision") == "allow":
            code = secrets.token_urlsafe(24)
            login = str(form.get("login") or "user").strip() or "user"
            with self._lock:
                self._codes[code] = _Code(
                    provider=pending["provider"],
                    client_id=pending["client_id"],
                    redirect_uri=pending["redirect_uri"],
                    challenge=pending["challenge"],
                    user=login,
                    scopes=pending["scopes"],
                    expires_at=time.time() + self.code_ttl,
                )
            query["code"] = code
        else:
            query["error"] = "access_denied"
        query["state"] = pending["state"]
        return _redirect(pending["redirect_uri"], query)

    # -- OAuth: token endpoint ----------------------------------------------------------------

    def _token_endpoint(self, provider: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self.token_latency:
                await asyncio.sleep(self.token_latency)
            params = await _body_params(request)
            grant_type = params.get("grant_type") or (
                "authorization_code" if params.get("code") else None
            )
            client_id, client_secret = _client_credentials(request, params)
            with self._lock:
                if self.fail_next_token_requests > 0:
                    self.fail_next_token_requests -= 1
                    self._log_token(provider, grant_type, client_id, "server_error", None)
                    return JSONResponse({"error": "server_error"}, status_code=503)
                outcome, user, payload = self._grant(
                    provider, grant_type, client_id, client_secret, params
                )
                self._log_token(provider, grant_type, client_id, outcome, user)
            return _token_response(provider, request, grant_type, outcome, payload)

        return endpoint

    def _log_token(
        self,
        provider: str,
        grant_type: str | None,
        client_id: str | None,
        outcome: str,
        user: str | None,
    ) -> None:
        self.token_requests.append(
            TokenRequest(provider, grant_type, client_id, outcome, user, time.time())
        )

    def _grant(
        self,
        provider: str,
        grant_type: str | None,
        client_id: str | None,
        client_secret: str | None,
        params: dict[str, str],
    ) -> tuple[str, str | None, dict[str, Any]]:
        """(outcome, user, success payload) for a token request; lock held."""
        client = self._clients.get((provider, client_id or ""))
        if client is None or not secrets.compare_digest(client.secret, client_secret or ""):
            return "invalid_client", None, {}
        if grant_type == "authorization_code":
            return self._exchange_code(provider, client_id or "", params)
        if grant_type == "refresh_token":
            return self._refresh(provider, client_id or "", params)
        return "unsupported_grant_type", None, {}

    def _exchange_code(
        self, provider: str, client_id: str, params: dict[str, str]
    ) -> tuple[str, str | None, dict[str, Any]]:
        code = self._codes.get(params.get("code", ""))
        if code is None or code.provider != provider or code.client_id != client_id:
            return "invalid_grant", None, {}
        if code.used:
            # RFC 6749 §4.1.2: a reused code revokes what it issued.
            for value in code.issued_tokens:
                self._revoke(value)
            return "invalid_grant", code.user, {}
        if code.expires_at <= time.time():
            return "invalid_grant", code.user, {}
        if params.get("redirect_uri") != code.redirect_uri:
            return "redirect_uri_mismatch", code.user, {}
        if code.challenge is not None:
            verifier = params.get("code_verifier") or ""
            if not verifier or not secrets.compare_digest(s256(verifier), code.challenge):
                return "invalid_grant", code.user, {}
        code.used = True
        access, refresh = self._issue_pair(provider, code.user, code.scopes, client_id)
        code.issued_tokens += [access, refresh or ""]
        return (
            "ok",
            code.user,
            self._token_payload(provider, code.user, code.scopes, access, refresh),
        )

    def _refresh(
        self, provider: str, client_id: str, params: dict[str, str]
    ) -> tuple[str, str | None, dict[str, Any]]:
        value = params.get("refresh_token", "")
        token = self._tokens.get(value)
        if (
            token is None
            or token.kind != "refresh"
            or token.provider != provider
            or value in self.revoked
            or (token.client_id is not None and token.client_id != client_id)
        ):
            return "invalid_grant", token.user if token else None, {}
        access, new_refresh = self._issue_pair(
            provider, token.user, token.scopes, client_id, with_refresh=self.rotate_refresh_tokens
        )
        if new_refresh is not None:
            self._revoke(value)
        payload = self._token_payload(
            provider, token.user, token.scopes, access, new_refresh, refreshing=True
        )
        return "ok", token.user, payload

    def _token_payload(
        self,
        provider: str,
        user: str,
        scopes: tuple[str, ...],
        access: str,
        refresh: str | None,
        *,
        refreshing: bool = False,
    ) -> dict[str, Any]:
        ttl = self.access_token_ttl
        if provider == "slack":
            token = {
                "access_token": access,
                "token_type": "user",
                "scope": ",".join(scopes),
                "expires_in": ttl,
                **({"refresh_token": refresh} if refresh else {}),
            }
            if refreshing:
                return {"ok": True, **token, "user_id": slack_user_id(user), "team": SLACK_TEAM}
            return {
                "ok": True,
                "app_id": "A0FAKEAPP1",
                "authed_user": {"id": slack_user_id(user), **token},
                "team": {"id": SLACK_TEAM["id"], "name": SLACK_TEAM["name"]},
                "enterprise": None,
                "is_enterprise_install": False,
            }
        if provider == "github":
            payload: dict[str, Any] = {
                "access_token": access,
                "token_type": "bearer",
                "scope": ",".join(scopes),
                "expires_in": ttl,
            }
            if refresh:
                payload["refresh_token"] = refresh
                payload["refresh_token_expires_in"] = 15_811_200
            return payload
        payload = {
            "access_token": access,
            "expires_in": ttl,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
        if refresh:
            payload["refresh_token"] = refresh
        return payload

    # -- OAuth: revocation --------------------------------------------------------------------

    async def _google_revoke(self, request: Request) -> Response:
        params = {**dict(request.query_params), **await _body_params(request)}
        with self._lock:
            value = params.get("token", "")
            token = self._tokens.get(value)
            if token is None or token.provider != "google":
                return JSONResponse(
                    {"error": "invalid_token", "error_description": "Token expired or revoked"},
                    status_code=400,
                )
            # Google revokes the whole grant: access and refresh tokens of that user+client.
            for other, info in self._tokens.items():
                if info.provider == "google" and info.user == token.user:
                    if info.client_id == token.client_id:
                        self._revoke(other)
        return Response(status_code=200)

    async def _slack_revoke(self, request: Request) -> Response:
        value = _bearer(request) or (await _body_params(request)).get("token")
        with self._lock:
            user, reason = self._token_user("slack", value)
            if user is None or value is None:
                return JSONResponse({"ok": False, "error": reason})
            self._revoke(value)
        return JSONResponse({"ok": True, "revoked": True})

    async def _github_revoke(self, request: Request) -> Response:
        client_id, client_secret = _client_credentials(request, {})
        with self._lock:
            client = self._clients.get(("github", client_id or ""))
            if (
                client is None
                or client_id != request.path_params["client_id"]
                or not secrets.compare_digest(client.secret, client_secret or "")
            ):
                return _github_error(401, "Requires authentication")
            try:
                value = (await request.json()).get("access_token", "")
            except ValueError:
                value = ""
            token = self._tokens.get(value)
            if token is None or token.provider != "github":
                return _github_error(404, "Not Found")
            self._revoke(value)
        return Response(status_code=204)

    # -- API plumbing --------------------------------------------------------------------------

    def _api(
        self, provider: str, handler: Callable[[FakeProviders, _Call], Response]
    ) -> Callable[[Request], Awaitable[Response]]:
        prefix = _API_PREFIX[provider]

        async def endpoint(request: Request) -> Response:
            json_body, form = await _read_body(request)
            query = _query(request)
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            with self._lock:
                user, reason = self._token_user(provider, _bearer(request))
                self.requests.append(
                    RecordedRequest(
                        provider=provider,
                        method=request.method,
                        path=raw_path.decode("latin-1").split("?", 1)[0][len(prefix) :],
                        query=query,
                        json=json_body,
                        form=form,
                        user=user,
                        headers={k: v for k, v in request.headers.items() if k != "authorization"},
                    )
                )
                forced = (
                    self._forced[provider].popleft() if user and self._forced[provider] else None
                )
            if user is None:
                return _unauthorized(provider, reason)
            if forced is not None:
                if forced.delay:
                    await asyncio.sleep(forced.delay)
                if forced.status is not None or forced.error is not None:
                    return _forced_response(provider, forced)
            call = _Call(request, user, query, json_body, form)
            with self._lock:
                return handler(self, call)

        return endpoint

    # Per-user data, created on first use so every user starts with a few plausible items.

    def _mailbox(self, user: str) -> _Mailbox:
        return self._mailboxes.setdefault(user, _Mailbox.seeded(user))

    def _calendar_of(self, user: str) -> _Calendars:
        return self._calendars.setdefault(user, _Calendars.seeded(user))

    def _workspace(self, user: str) -> _Workspace:
        return self._workspaces.setdefault(user, _Workspace.seeded(user))


# ---------------------------------------------------------------------------------------------
# HTTP helpers


def _query(request: Request) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for key, values in parse_qs(request.url.query, keep_blank_values=True).items():
        out[key] = values[0] if len(values) == 1 else values
    return out


async def _read_body(request: Request) -> tuple[Any, dict[str, str] | None]:
    raw = await request.body()
    if not raw:
        return None, None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return None, dict(parse_qsl(raw.decode(), keep_blank_values=True))
    try:
        return json.loads(raw), None
    except ValueError:
        return {"_raw": raw.decode("utf-8", "replace")}, None


async def _body_params(request: Request) -> dict[str, str]:
    json_body, form = await _read_body(request)
    if form is not None:
        return form
    if isinstance(json_body, dict):
        return {k: str(v) for k, v in json_body.items()}
    return {}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


def _client_credentials(request: Request, params: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            return None, None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return params.get("client_id"), params.get("client_secret")


def _redirect(uri: str, query: dict[str, str]) -> Response:
    separator = "&" if urlsplit(uri).query else "?"
    return Response(status_code=302, headers={"location": uri + separator + urlencode(query)})


def _error_page(status: int, code: str, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><title>Error</title>"
        f"<h1>Error {status}: {html.escape(code)}</h1><p>{html.escape(message)}</p>"
    )
    return HTMLResponse(body, status_code=status)


def _consent_page(
    provider: str, request_id: str, scopes: tuple[str, ...], login: str, client_id: str
) -> str:
    items = "".join(f"<li>{html.escape(scope)}</li>" for scope in scopes) or "<li>(none)</li>"
    name = _DISPLAY[provider]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in with {name}</title></head>
<body>
<h1>Sign in with {name}</h1>
<p>The application <code>{html.escape(client_id)}</code> asks for access to:</p>
<ul id="scopes">{items}</ul>
<form method="post" action="/{provider}/_consent">
  <input type="hidden" name="request_id" value="{html.escape(request_id)}">
  <label for="login">Log in as</label>
  <input id="login" name="login" value="{html.escape(login)}">
  <button id="allow" type="submit" name="decision" value="allow">Allow</button>
  <button id="deny" type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>"""


_OAUTH_ERRORS = {
    # our outcome → (Slack error, GitHub error)
    "invalid_client": ("invalid_client_id", "incorrect_client_credentials"),
    "invalid_grant": ("invalid_code", "bad_verification_code"),
    "redirect_uri_mismatch": ("bad_redirect_uri", "redirect_uri_mismatch"),
    "unsupported_grant_type": ("invalid_grant_type", "unsupported_grant_type"),
}


def _token_response(
    provider: str,
    request: Request,
    grant_type: str | None,
    outcome: str,
    payload: dict[str, Any],
) -> Response:
    if provider == "slack":
        if outcome == "ok":
            return JSONResponse(payload)
        error = _OAUTH_ERRORS[outcome][0]
        if outcome == "invalid_grant" and grant_type == "refresh_token":
            error = "invalid_refresh_token"
        return JSONResponse({"ok": False, "error": error})
    if provider == "github":
        if outcome != "ok":
            error = _OAUTH_ERRORS[outcome][1]
            if outcome == "invalid_grant" and grant_type == "refresh_token":
                error = "bad_refresh_token"
            payload = {
                "error": error,
                "error_description": outcome.replace("_", " "),
                "error_uri": "https://docs.github.com/apps/oauth-apps",
            }
        # GitHub answers form-encoded unless the client asks for JSON (and errors with 200).
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(payload)
        return PlainTextResponse(
            urlencode({k: str(v) for k, v in payload.items()}),
            media_type="application/x-www-form-urlencoded",
        )
    if outcome == "ok":
        return JSONResponse(payload, headers={"cache-control": "no-store"})
    status = 401 if outcome == "invalid_client" else 400
    descriptions = {
        "invalid_client": "Unauthorized",
        "invalid_grant": "Bad Request",
        "redirect_uri_mismatch": "Bad Request",
        "unsupported_grant_type": "Invalid grant_type",
    }
    error = "invalid_grant" if outcome == "redirect_uri_mismatch" else outcome
    return JSONResponse(
        {"error": error, "error_description": descriptions[outcome]}, status_code=status
    )


_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _google_error(status: int, message: str, reason: str = "") -> JSONResponse:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason or "error"}],
        "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    return JSONResponse({"error": error}, status_code=status)


def _github_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        },
        status_code=status,
    )


def _slack_error(error: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": error})


def _unauthorized(provider: str, reason: str) -> Response:
    if provider == "slack":
        return _slack_error(reason)
    if provider == "github":
        return _github_error(401, "Bad credentials")
    response = _google_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        "authError",
    )
    response.headers["www-authenticate"] = 'Bearer realm="https://accounts.google.com/"'
    return response


def _forced_response(provider: str, forced: _Forced) -> Response:
    status = forced.status or 200
    headers = {"retry-after": f"{forced.retry_after:g}"} if forced.retry_after is not None else {}
    if provider == "slack":
        error = forced.error or ("ratelimited" if status == 429 else "internal_error")
        response: Response = JSONResponse({"ok": False, "error": error}, status_code=status)
    elif provider == "github":
        response = _github_error(status, forced.message or forced.error or "Forced failure")
    else:
        response = _google_error(status, forced.message or forced.error or "Forced failure")
    response.headers.update(headers)
    return response


def _catch_all(fake: FakeProviders, call: _Call) -> Response:
    if call.request.url.path.startswith("/slack/"):
        return JSONResponse({"ok": True})
    return JSONResponse({})


# ---------------------------------------------------------------------------------------------
# Per-user data

_ids = itertools.count(1)


def _hex_id(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, [*parts, next(_ids)])).encode()).hexdigest()[:16]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


_SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "TRASH",
    "SPAM",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CATEGORY_PERSONAL",
)


@dataclass
class _Mailbox:
    user: str
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    history_id: int = 1000

    @property
    def email(self) -> str:
        return f"{self.user}@example.com"

    @classmethod
    def seeded(cls, user: str) -> _Mailbox:
        box = cls(user)
        for name in _SYSTEM_LABELS:
            box.labels[name] = {
                "id": name,
                "name": name,
                "type": "system",
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
            }
        box.add(
            "ana@example.com",
            box.email,
            f"Welcome, {user}",
            f"Hi {user}, your account is ready.",
            ["INBOX", "UNREAD"],
        )
        box.add(
            "billing@example.com",
            box.email,
            "Your invoice",
            f"Invoice 42 for {user}: 10 EUR.",
            ["INBOX"],
        )
        return box

    def add(
        self,
        sender: str,
        to: str,
        subject: str,
        body: str,
        labels: list[str],
        *,
        thread_id: str | None = None,
        extra_headers: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        self.history_id += 1
        message_id = _hex_id(self.user, "message")
        headers = [
            {"name": "From", "value": sender},
            {"name": "To", "value": to},
            {"name": "Subject", "value": subject},
            {"name": "Date", "value": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")},
            {"name": "Message-ID", "value": f"<{message_id}@mail.example.com>"},
            *(extra_headers or []),
        ]
        message = {
            "id": message_id,
            "threadId": thread_id or message_id,
            "labelIds": list(labels),
            "snippet": body[:100],
            "historyId": str(self.history_id),
            "internalDate": str(int(time.time() * 1000)),
            "sizeEstimate": len(body) + 200,
            "payload": {
                "partId": "",
                "mimeType": "text/plain",
                "filename": "",
                "headers": headers,
                "body": {"size": len(body.encode()), "data": _b64url(body.encode())},
            },
        }
        self.messages[message_id] = message
        return message

    def header(self, message: dict[str, Any], name: str) -> str:
        for item in message["payload"]["headers"]:
            if item["name"].lower() == name.lower():
                return item["value"]
        return ""

    def matches(self, message: dict[str, Any], q: str) -> bool:
        for term in q.split():
            key, _, value = term.partition(":")
            value = value.lower()
            if key == "from" and value:
                ok = value in self.header(message, "From").lower()
            elif key == "to" and value:
                ok = value in self.header(message, "To").lower()
            elif key == "subject" and value:
                ok = value in self.header(message, "Subject").lower()
            elif key == "is" and value in ("unread", "starred"):
                ok = value.upper() in message["labelIds"]
            elif key in ("label", "in") and value:
                ok = value.upper() in message["labelIds"] or any(
                    label["name"].lower() == value and label["id"] in message["labelIds"]
                    for label in self.labels.values()
                )
            else:
                haystack = " ".join(
                    [
                        message["snippet"],
                        self.header(message, "Subject"),
                        self.header(message, "From"),
                    ]
                ).lower()
                ok = term.lower() in haystack
            if not ok:
                return False
        return True


@dataclass
class _Calendars:
    user: str
    events: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return f"{self.user}@example.com"

    HOLIDAYS = "en.usa#holiday@group.v.calendar.google.com"

    @classmethod
    def seeded(cls, user: str) -> _Calendars:
        cals = cls(user)
        cals.events = {cals.primary: {}, cls.HOLIDAYS: {}}
        start = (datetime.now(UTC) + timedelta(days=1)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        cals.insert(
            cals.primary,
            {
                "summary": f"Standup ({user})",
                "start": {"dateTime": start.isoformat().replace("+00:00", "Z")},
                "end": {
                    "dateTime": (start + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
                },
            },
        )
        return cals

    def resolve(self, calendar_id: str) -> str | None:
        calendar_id = self.primary if calendar_id == "primary" else calendar_id
        return calendar_id if calendar_id in self.events else None

    def insert(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event_id = _hex_id(self.user, "event")
        event = {
            "kind": "calendar#event",
            "etag": f'"{event_id}"',
            "id": event_id,
            "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
            "created": now,
            "updated": now,
            **{k: v for k, v in body.items() if k != "conferenceData"},
            "creator": {"email": self.primary, "self": True},
            "organizer": {"email": calendar_id, "self": True},
            "iCalUID": f"{event_id}@google.com",
            "sequence": 0,
        }
        if body.get("conferenceData", {}).get("createRequest"):
            event["hangoutLink"] = f"https://meet.google.com/{event_id[:3]}-{event_id[3:7]}"
        self.events[calendar_id][event_id] = event
        return event


def _event_start(event: dict[str, Any]) -> datetime | None:
    return _parse_time(event.get("start", {}))


def _event_end(event: dict[str, Any]) -> datetime | None:
    return _parse_time(event.get("end", {}))


def _parse_time(value: dict[str, Any] | str | None) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("dateTime") or value.get("date")
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Workspace:
    user: str
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(100))

    @classmethod
    def seeded(cls, user: str) -> _Workspace:
        ws = cls(user)
        for login in (user, "ana", "bob"):
            ws.members.setdefault(slack_user_id(login), _slack_member(login))
        for channel_id, name in (("C0GENERAL1", "general"), ("C0RANDOM01", "random")):
            ws.add_channel(channel_id, name)
        ws.post("C0GENERAL1", slack_user_id("ana"), f"Hello {user}, welcome to #general!")
        return ws

    def add_channel(self, channel_id: str, name: str, *, private: bool = False) -> dict[str, Any]:
        channel = {
            "id": channel_id,
            "name": name,
            "is_channel": not private,
            "is_group": private,
            "is_im": False,
            "is_private": private,
            "is_archived": False,
            "is_general": name == "general",
            "is_member": True,
            "created": 1_700_000_000,
            "creator": slack_user_id(self.user),
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "num_members": len(self.members),
        }
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel

    def find_channel(self, value: Any) -> dict[str, Any] | None:
        value = str(value or "").lstrip("#")
        if value in self.channels:
            return self.channels[value]
        return next((c for c in self.channels.values() if c["name"] == value), None)

    def post(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "user": user_id, "text": text, "ts": ts, **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = self.find_message(channel_id, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages[channel_id].append(message)
        return message

    def find_message(self, channel_id: str, ts: Any) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)


def _slack_member(login: str) -> dict[str, Any]:
    return {
        "id": slack_user_id(login),
        "team_id": SLACK_TEAM["id"],
        "name": login,
        "deleted": False,
        "real_name": login.title(),
        "tz": "Europe/Paris",
        "is_bot": False,
        "profile": {
            "real_name": login.title(),
            "display_name": login,
            "email": f"{login}@example.com",
            "title": "",
        },
    }


@dataclass
class _GitHub:
    repos: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    issues: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[tuple[str, str, int], list[dict[str, Any]]] = field(default_factory=dict)

    def repo(self, owner: str, name: str) -> dict[str, Any]:
        key = (owner, name)
        if key not in self.repos:
            self.repos[key] = {
                "id": 1000 + len(self.repos),
                "node_id": f"R_{_hex_id(owner, name)}",
                "name": name,
                "full_name": f"{owner}/{name}",
                "owner": _github_user(owner),
                "private": False,
                "html_url": f"https://github.com/{owner}/{name}",
                "description": f"{name} by {owner}",
                "fork": False,
                "default_branch": "main",
                "visibility": "public",
                "open_issues_count": 0,
                "stargazers_count": 0,
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": "2024-01-01T00:00:00Z",
            }
            self.issues[key] = []
        return self.repos[key]


def _github_user(login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": int(hashlib.sha1(login.encode()).hexdigest()[:6], 16),
        "type": "User",
        "html_url": f"https://github.com/{login}",
        "site_admin": False,
    }


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# API handlers: each gets the fake (lock held) and the authenticated call.

Handler = Callable[[FakeProviders, _Call], Response]


def _gmail_box(fake: FakeProviders, call: _Call) -> _Mailbox | Response:
    box = fake._mailbox(call.user)
    user_id = call.request.path_params["userId"]
    if user_id not in ("me", box.email):
        return _google_error(403, f"Delegation denied for {box.email}", "forbidden")
    return box


def _not_found() -> JSONResponse:
    return _google_error(404, "Requested entity was not found.", "notFound")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _page(items: list[Any], call: _Call, *, default: int = 100) -> tuple[list[Any], str | None]:
    size = int(call.query.get("maxResults", default))  # type: ignore[arg-type]
    start = int(call.query.get("pageToken", 0) or 0)  # type: ignore[arg-type]
    chunk = items[start : start + size]
    return chunk, str(start + size) if start + size < len(items) else None


def _message_view(box: _Mailbox, message: dict[str, Any], call: _Call) -> dict[str, Any]:
    fmt = call.query.get("format", "full")
    if fmt == "minimal":
        return {k: v for k, v in message.items() if k != "payload"}
    if fmt == "metadata":
        wanted = {h.lower() for h in _as_list(call.query.get("metadataHeaders"))}
        headers = [
            h for h in message["payload"]["headers"] if not wanted or h["name"].lower() in wanted
        ]
        return {**message, "payload": {"mimeType": "text/plain", "headers": headers}}
    if fmt == "raw":
        lines = [f"{h['name']}: {h['value']}" for h in message["payload"]["headers"]]
        body = base64.urlsafe_b64decode(message["payload"]["body"]["data"]).decode()
        raw = "\r\n".join(lines) + "\r\n\r\n" + body
        return {
            **{k: v for k, v in message.items() if k != "payload"},
            "raw": _b64url(raw.encode()),
        }
    return message


def gmail_list_messages(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    labels = _as_list(call.query.get("labelIds"))
    q = str(call.query.get("q", ""))
    include_hidden = call.query.get("includeSpamTrash") == "true"
    found = [
        m
        for m in reversed(box.messages.values())
        if all(label in m["labelIds"] for label in labels)
        and (include_hidden or not {"SPAM", "TRASH"} & set(m["labelIds"]))
        and box.matches(m, q)
    ]
    chunk, next_token = _page(found, call)
    body: dict[str, Any] = {"resultSizeEstimate": len(found)}
    if chunk:
        body["messages"] = [{"id": m["id"], "threadId": m["threadId"]} for m in chunk]
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


def gmail_get_message(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    message = box.messages.get(call.request.path_params["id"])
    if message is None:
        return _not_found()
    return JSONResponse(_message_view(box, message, call))


def _parse_raw(raw: str) -> tuple[str, str, str, str, list[dict[str, str]]] | None:
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        return None
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    extra = [
        {"name": name, "value": str(parsed[name])}
        for name in ("Cc", "In-Reply-To", "References")
        if parsed[name]
    ]
    return (
        str(parsed["To"] or ""),
        str(parsed["Subject"] or ""),
        body,
        str(parsed["Bcc"] or ""),
        extra,
    )


def gmail_send(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    body = call.json if isinstance(call.json, dict) else {}
    return _send_message(box, body)


def _send_message(box: _Mailbox, resource: dict[str, Any]) -> Response:
    parsed = _parse_raw(str(resource.get("raw", "")))
    if parsed is None or not (parsed[0] or parsed[3]):
        return _google_error(400, "Invalid To header", "invalidArgument")
    to, subject, text, _, extra = parsed
    message = box.add(
        box.email,
        to,
        subject,
        text,
        ["SENT"],
        thread_id=resource.get("threadId"),
        extra_headers=extra,
    )
    return JSONResponse(
        {"id": message["id"], "threadId": message["threadId"], "labelIds": message["labelIds"]}
    )


def _modify(message: dict[str, Any], add: list[str], remove: list[str]) -> None:
    labels = [label for label in message["labelIds"] if label not in remove]
    message["labelIds"] = labels + [label for label in add if label not in labels]


def gmail_modify_message(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    message = box.messages.get(call.request.path_params["id"])
    if message is None:
        return _not_found()
    body = call.json if isinstance(call.json, dict) else {}
    action = call.request.path_params.get("action", "modify")
    if action == "trash":
        _modify(message, ["TRASH"], ["INBOX"])
    elif action == "untrash":
        _modify(message, ["INBOX"], ["TRASH"])
    else:
        unknown = [i for i in body.get("addLabelIds", []) if i not in box.labels]
        if unknown:
            return _google_error(400, f"Invalid label: {unknown[0]}", "invalidArgument")
        _modify(message, body.get("addLabelIds", []), body.get("removeLabelIds", []))
    return JSONResponse({k: v for k, v in message.items() if k != "payload"})


def gmail_delete_message(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    if box.messages.pop(call.request.path_params["id"], None) is None:
        return _not_found()
    return Response(status_code=204)


def gmail_batch_modify(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    body = call.json if isinstance(call.json, dict) else {}
    for message_id in body.get("ids", []):
        if message_id in box.messages:
            _modify(
                box.messages[message_id],
                body.get("addLabelIds", []),
                body.get("removeLabelIds", []),
            )
    return Response(status_code=204)


def gmail_labels(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    if call.request.method == "GET":
        return JSONResponse({"labels": list(box.labels.values())})
    body = call.json if isinstance(call.json, dict) else {}
    name = str(body.get("name", "")).strip()
    if not name:
        return _google_error(400, "Invalid label name", "invalidArgument")
    if any(label["name"].lower() == name.lower() for label in box.labels.values()):
        return _google_error(409, "Label name exists or conflicts", "duplicate")
    label_id = f"Label_{len(box.labels) + 1}"
    label = {
        "id": label_id,
        "name": name,
        "type": "user",
        "messageListVisibility": body.get("messageListVisibility", "show"),
        "labelListVisibility": body.get("labelListVisibility", "labelShow"),
    }
    box.labels[label_id] = label
    return JSONResponse(label)


def gmail_label(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    label = box.labels.get(call.request.path_params["id"])
    if label is None:
        return _not_found()
    if call.request.method == "DELETE":
        if label["type"] == "system":
            return _google_error(400, "Invalid delete request", "invalidArgument")
        del box.labels[label["id"]]
        return Response(status_code=204)
    if call.request.method in ("PATCH", "PUT"):
        label.update(pick_keys(call.json, ("name", "messageListVisibility", "labelListVisibility")))
        return JSONResponse(label)
    with_label = [m for m in box.messages.values() if label["id"] in m["labelIds"]]
    unread = [m for m in with_label if "UNREAD" in m["labelIds"]]
    return JSONResponse(
        {
            **label,
            "messagesTotal": len(with_label),
            "messagesUnread": len(unread),
            "threadsTotal": len({m["threadId"] for m in with_label}),
            "threadsUnread": len({m["threadId"] for m in unread}),
        }
    )


def pick_keys(source: Any, names: Iterable[str]) -> dict[str, Any]:
    if not isinstance(source, dict):
        return {}
    return {name: source[name] for name in names if name in source}


def gmail_drafts(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    if call.request.method == "GET":
        drafts = list(box.drafts.values())
        body: dict[str, Any] = {"resultSizeEstimate": len(drafts)}
        if drafts:
            body["drafts"] = [
                {
                    "id": d["id"],
                    "message": {"id": d["message"]["id"], "threadId": d["message"]["threadId"]},
                }
                for d in drafts
            ]
        return JSONResponse(body)
    resource = (call.json or {}).get("message", {}) if isinstance(call.json, dict) else {}
    parsed = _parse_raw(str(resource.get("raw", "")))
    if parsed is None:
        return _google_error(400, "Invalid raw message", "invalidArgument")
    to, subject, text, _, extra = parsed
    message = box.add(
        box.email,
        to,
        subject,
        text,
        ["DRAFT"],
        thread_id=resource.get("threadId"),
        extra_headers=extra,
    )
    draft_id = "r" + _hex_id(call.user, "draft")
    box.drafts[draft_id] = {"id": draft_id, "message": message, "raw": resource.get("raw")}
    return JSONResponse(
        {"id": draft_id, "message": {k: message[k] for k in ("id", "threadId", "labelIds")}}
    )


def gmail_draft(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    draft = box.drafts.get(call.request.path_params["id"])
    if draft is None:
        return _not_found()
    if call.request.method == "DELETE":
        del box.drafts[draft["id"]]
        box.messages.pop(draft["message"]["id"], None)
        return Response(status_code=204)
    return JSONResponse({"id": draft["id"], "message": draft["message"]})


def gmail_send_draft(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    draft_id = (call.json or {}).get("id") if isinstance(call.json, dict) else None
    draft = box.drafts.pop(str(draft_id), None)
    if draft is None:
        return _not_found()
    message = draft["message"]
    message["labelIds"] = ["SENT"]
    return JSONResponse({k: message[k] for k in ("id", "threadId", "labelIds")})


def gmail_threads(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    threads: dict[str, dict[str, Any]] = {}
    q = str(call.query.get("q", ""))
    labels = _as_list(call.query.get("labelIds"))
    for message in reversed(box.messages.values()):
        if box.matches(message, q) and all(label in message["labelIds"] for label in labels):
            threads.setdefault(
                message["threadId"],
                {
                    "id": message["threadId"],
                    "snippet": message["snippet"],
                    "historyId": message["historyId"],
                },
            )
    chunk, next_token = _page(list(threads.values()), call)
    body: dict[str, Any] = {"resultSizeEstimate": len(threads)}
    if chunk:
        body["threads"] = chunk
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


def gmail_thread(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    thread_id = call.request.path_params["id"]
    messages = [m for m in box.messages.values() if m["threadId"] == thread_id]
    if not messages:
        return _not_found()
    return JSONResponse(
        {
            "id": thread_id,
            "historyId": messages[-1]["historyId"],
            "messages": [_message_view(box, m, call) for m in messages],
        }
    )


def gmail_profile(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    return JSONResponse(
        {
            "emailAddress": box.email,
            "messagesTotal": len(box.messages),
            "threadsTotal": len({m["threadId"] for m in box.messages.values()}),
            "historyId": str(box.history_id),
        }
    )


def calendar_list(fake: FakeProviders, call: _Call) -> Response:
    cals = fake._calendar_of(call.user)
    items = [
        {
            "kind": "calendar#calendarListEntry",
            "id": cals.primary,
            "summary": cals.primary,
            "timeZone": "UTC",
            "accessRole": "owner",
            "primary": True,
            "selected": True,
        },
        {
            "kind": "calendar#calendarListEntry",
            "id": cals.HOLIDAYS,
            "summary": "Holidays in United States",
            "timeZone": "UTC",
            "accessRole": "reader",
        },
    ]
    return JSONResponse(
        {"kind": "calendar#calendarList", "etag": '"fake"', "nextSyncToken": "sync", "items": items}
    )


def _calendar_or_404(fake: FakeProviders, call: _Call) -> tuple[_Calendars, str] | Response:
    cals = fake._calendar_of(call.user)
    calendar_id = cals.resolve(call.request.path_params["calendarId"])
    if calendar_id is None:
        return _google_error(404, "Not Found", "notFound")
    return cals, calendar_id


def calendar_events(fake: FakeProviders, call: _Call) -> Response:
    found = _calendar_or_404(fake, call)
    if isinstance(found, Response):
        return found
    cals, calendar_id = found
    if call.request.method == "POST":
        body = call.json if isinstance(call.json, dict) else {}
        if not body.get("start") or not body.get("end"):
            missing = "end" if body.get("start") else "start"
            return _google_error(400, f"Missing {missing} time.", "required")
        return JSONResponse(cals.insert(calendar_id, body))
    time_min = _parse_time(str(call.query.get("timeMin", "")))
    time_max = _parse_time(str(call.query.get("timeMax", "")))
    q = str(call.query.get("q", "")).lower()
    items = []
    for event in cals.events[calendar_id].values():
        start, end = _event_start(event), _event_end(event)
        if time_min and end and end <= time_min:
            continue
        if time_max and start and start >= time_max:
            continue
        text = " ".join(str(event.get(k, "")) for k in ("summary", "description", "location"))
        if q and q not in text.lower():
            continue
        items.append(event)
    items.sort(key=lambda e: _event_start(e) or datetime.min.replace(tzinfo=UTC))
    chunk, next_token = _page(items, call, default=250)
    body = {
        "kind": "calendar#events",
        "summary": calendar_id,
        "timeZone": "UTC",
        "updated": _now_iso(),
        "accessRole": "owner" if calendar_id == cals.primary else "reader",
        "items": chunk,
    }
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


def calendar_event(fake: FakeProviders, call: _Call) -> Response:
    found = _calendar_or_404(fake, call)
    if isinstance(found, Response):
        return found
    cals, calendar_id = found
    event = cals.events[calendar_id].get(call.request.path_params["eventId"])
    if event is None:
        return _google_error(404, "Not Found", "notFound")
    if call.request.method == "DELETE":
        del cals.events[calendar_id][event["id"]]
        return Response(status_code=204)
    if call.request.method in ("PATCH", "PUT"):
        event.update(call.json if isinstance(call.json, dict) else {})
        event["updated"] = _now_iso()
        event["sequence"] += 1
    return JSONResponse(event)


def calendar_quick_add(fake: FakeProviders, call: _Call) -> Response:
    found = _calendar_or_404(fake, call)
    if isinstance(found, Response):
        return found
    cals, calendar_id = found
    text = str(call.query.get("text", ""))
    if not text:
        return _google_error(400, "Required parameter: text", "required")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    event = cals.insert(
        calendar_id,
        {
            "summary": text,
            "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()},
        },
    )
    return JSONResponse(event)


def calendar_freebusy(fake: FakeProviders, call: _Call) -> Response:
    cals = fake._calendar_of(call.user)
    body = call.json if isinstance(call.json, dict) else {}
    time_min, time_max = _parse_time(body.get("timeMin")), _parse_time(body.get("timeMax"))
    if time_min is None or time_max is None:
        return _google_error(400, "Missing timeMin or timeMax.", "required")
    result: dict[str, Any] = {}
    for item in body.get("items", []):
        requested = str(item.get("id", ""))
        calendar_id = cals.resolve(requested)
        if calendar_id is None:
            result[requested] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
            continue
        busy = []
        for event in cals.events[calendar_id].values():
            start, end = _event_start(event), _event_end(event)
            if start and end and start < time_max and end > time_min:
                busy.append(
                    {"start": event["start"].get("dateTime"), "end": event["end"].get("dateTime")}
                )
        result[requested] = {"busy": busy}
    return JSONResponse(
        {
            "kind": "calendar#freeBusy",
            "timeMin": body["timeMin"],
            "timeMax": body["timeMax"],
            "calendars": result,
        }
    )


def slack_method(fake: FakeProviders, call: _Call) -> Response:
    method = call.request.path_params["method"]
    handler = _SLACK_METHODS.get(method)
    if handler is None:
        if re.fullmatch(r"[a-z]+(\.[a-zA-Z]+)+", method):
            return JSONResponse({"ok": True})
        return _slack_error("unknown_method")
    return handler(fake._workspace(call.user), call)


def _slack_channel(ws: _Workspace, call: _Call) -> dict[str, Any] | None:
    return ws.find_channel(call.arg("channel"))


def _slack_post(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    text, blocks = call.arg("text"), call.arg("blocks")
    if not text and not blocks:
        return _slack_error("no_text")
    extra = {"blocks": blocks} if blocks else {}
    message = ws.post(
        channel["id"],
        slack_user_id(ws.user),
        str(text or ""),
        thread_ts=call.arg("thread_ts"),
        **extra,
    )
    return JSONResponse(
        {"ok": True, "channel": channel["id"], "ts": message["ts"], "message": message}
    )


def _slack_update(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    message = ws.find_message(channel["id"], call.arg("ts"))
    if message is None:
        return _slack_error("message_not_found")
    if message["user"] != slack_user_id(ws.user):
        return _slack_error("cant_update_message")
    if call.request.path_params["method"] == "chat.delete":
        ws.messages[channel["id"]].remove(message)
        return JSONResponse({"ok": True, "channel": channel["id"], "ts": message["ts"]})
    message["text"] = str(call.arg("text") or message["text"])
    message["edited"] = {"user": message["user"], "ts": f"{time.time():.6f}"}
    return JSONResponse(
        {"ok": True, "channel": channel["id"], "ts": message["ts"], "text": message["text"]}
    )


def _slack_list_channels(ws: _Workspace, call: _Call) -> Response:
    types = str(call.arg("types") or "public_channel").split(",")
    channels = [
        c
        for c in ws.channels.values()
        if ("private_channel" in types if c["is_private"] else "public_channel" in types)
    ]
    limit = int(call.arg("limit") or 100)
    return JSONResponse(
        {"ok": True, "channels": channels[:limit], "response_metadata": {"next_cursor": ""}}
    )


def _slack_history(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    top = [m for m in ws.messages[channel["id"]] if m.get("thread_ts") in (None, m["ts"])]
    limit = int(call.arg("limit") or 100)
    newest_first = list(reversed(top))
    return JSONResponse(
        {
            "ok": True,
            "messages": newest_first[:limit],
            "has_more": len(newest_first) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }
    )


def _slack_replies(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    ts = call.arg("ts")
    parent = ws.find_message(channel["id"], ts)
    if parent is None:
        return _slack_error("thread_not_found")
    replies = [
        m for m in ws.messages[channel["id"]] if m.get("thread_ts") == ts and m is not parent
    ]
    return JSONResponse({"ok": True, "messages": [parent, *replies], "has_more": False})


def _slack_info(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    return JSONResponse({"ok": True, "channel": channel})


def _slack_create(ws: _Workspace, call: _Call) -> Response:
    name = str(call.arg("name") or "")
    if not re.fullmatch(r"[a-z0-9_-]{1,80}", name):
        return _slack_error("invalid_name_specials")
    if ws.find_channel(name) is not None:
        return _slack_error("name_taken")
    is_private = call.arg("is_private") in (True, "true", "1")
    channel = ws.add_channel("C" + _hex_id(ws.user, name)[:9].upper(), name, private=is_private)
    return JSONResponse({"ok": True, "channel": channel})


def _slack_join(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    channel["is_member"] = True
    return JSONResponse({"ok": True, "channel": channel})


def _slack_reaction(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    message = ws.find_message(channel["id"], call.arg("timestamp"))
    if message is None:
        return _slack_error("message_not_found")
    name = str(call.arg("name") or "")
    me = slack_user_id(ws.user)
    reactions = message.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if call.request.path_params["method"] == "reactions.add":
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if me in reaction["users"]:
            return _slack_error("already_reacted")
        reaction["users"].append(me)
    else:
        if reaction is None or me not in reaction["users"]:
            return _slack_error("no_reaction")
        reaction["users"].remove(me)
        if not reaction["users"]:
            reactions.remove(reaction)
    if reaction is not None:
        reaction["count"] = len(reaction["users"])
    return JSONResponse({"ok": True})


def _slack_users(ws: _Workspace, call: _Call) -> Response:
    return JSONResponse(
        {
            "ok": True,
            "members": list(ws.members.values()),
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": ""},
        }
    )


def _slack_user_info(ws: _Workspace, call: _Call) -> Response:
    member = ws.members.get(str(call.arg("user")))
    if member is None:
        return _slack_error("user_not_found")
    return JSONResponse({"ok": True, "user": member})


def _slack_lookup_email(ws: _Workspace, call: _Call) -> Response:
    email = str(call.arg("email") or "")
    member = next((m for m in ws.members.values() if m["profile"]["email"] == email), None)
    if member is None:
        return _slack_error("users_not_found")
    return JSONResponse({"ok": True, "user": member})


def _slack_auth_test(ws: _Workspace, call: _Call) -> Response:
    return JSONResponse(
        {
            "ok": True,
            "url": f"https://{SLACK_TEAM['domain']}.slack.com/",
            "team": SLACK_TEAM["name"],
            "user": ws.user,
            "team_id": SLACK_TEAM["id"],
            "user_id": slack_user_id(ws.user),
        }
    )


def _slack_search(ws: _Workspace, call: _Call) -> Response:
    query = str(call.arg("query") or "").lower()
    matches = [
        {**m, "channel": {"id": cid, "name": ws.channels[cid]["name"]}}
        for cid, messages in ws.messages.items()
        for m in messages
        if query and query in m["text"].lower()
    ]
    return JSONResponse(
        {
            "ok": True,
            "query": call.arg("query"),
            "messages": {
                "matches": matches,
                "total": len(matches),
                "paging": {"count": 20, "total": len(matches), "page": 1, "pages": 1},
            },
        }
    )


_SLACK_METHODS: dict[str, Callable[[_Workspace, _Call], Response]] = {
    "chat.postMessage": _slack_post,
    "chat.update": _slack_update,
    "chat.delete": _slack_update,
    "conversations.list": _slack_list_channels,
    "conversations.history": _slack_history,
    "conversations.replies": _slack_replies,
    "conversations.info": _slack_info,
    "conversations.create": _slack_create,
    "conversations.join": _slack_join,
    "reactions.add": _slack_reaction,
    "reactions.remove": _slack_reaction,
    "users.list": _slack_users,
    "users.info": _slack_user_info,
    "users.lookupByEmail": _slack_lookup_email,
    "auth.test": _slack_auth_test,
    "search.messages": _slack_search,
}


def github_user(fake: FakeProviders, call: _Call) -> Response:
    return JSONResponse(
        {
            **_github_user(call.user),
            "name": call.user.title(),
            "email": f"{call.user}@example.com",
            "company": None,
            "public_repos": len([k for k in fake._github.repos if k[0] == call.user]),
        }
    )


def github_user_repos(fake: FakeProviders, call: _Call) -> Response:
    fake._github.repo(call.user, "hello-world")
    return JSONResponse([r for (owner, _), r in fake._github.repos.items() if owner == call.user])


def github_repo(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    return JSONResponse(fake._github.repo(params["owner"], params["repo"]))


def github_issues(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    repo = fake._github.repo(params["owner"], params["repo"])
    issues = fake._github.issues[(params["owner"], params["repo"])]
    if call.request.method == "GET":
        state = call.query.get("state", "open")
        listed = [i for i in reversed(issues) if state == "all" or i["state"] == state]
        return JSONResponse(listed)
    body = call.json if isinstance(call.json, dict) else {}
    if not body.get("title"):
        return JSONResponse(
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}],
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
                "status": "422",
            },
            status_code=422,
        )
    number = len(issues) + 1
    issue = {
        "id": 5000 + number,
        "number": number,
        "title": body["title"],
        "body": body.get("body"),
        "state": "open",
        "user": _github_user(call.user),
        "labels": [{"name": name} for name in body.get("labels", [])],
        "assignees": [_github_user(login) for login in body.get("assignees", [])],
        "comments": 0,
        "html_url": f"{repo['html_url']}/issues/{number}",
        "created_at": _now_iso(),
        "updated_at": _now_iso(),
    }
    issues.append(issue)
    repo["open_issues_count"] += 1
    return JSONResponse(issue, status_code=201)


def github_issue(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    fake._github.repo(params["owner"], params["repo"])
    issues = fake._github.issues[(params["owner"], params["repo"])]
    issue = next((i for i in issues if i["number"] == params["number"]), None)
    if issue is None:
        return _github_error(404, "Not Found")
    if call.request.method == "PATCH":
        body = call.json if isinstance(call.json, dict) else {}
        issue.update(pick_keys(body, ("title", "body", "state", "state_reason")))
        if "labels" in body:
            issue["labels"] = [{"name": name} for name in body["labels"]]
        issue["updated_at"] = _now_iso()
    return JSONResponse(issue)


def github_comments(fake: FakeProviders, call: _Call) -> Response:
    params = call.request.path_params
    fake._github.repo(params["owner"], params["repo"])
    key = (params["owner"], params["repo"], params["number"])
    comments = fake._github.comments.setdefault(key, [])
    if call.request.method == "GET":
        return JSONResponse(comments)
    body = call.json if isinstance(call.json, dict) else {}
    comment = {
        "id": 9000 + len(comments),
        "body": body.get("body", ""),
        "user": _github_user(call.user),
        "created_at": _now_iso(),
    }
    comments.append(comment)
    return JSONResponse(comment, status_code=201)


_GMAIL = "/gmail/v1/users/{userId}"
_CAL = "/calendar/v3"
_REPO = "/repos/{owner}/{repo}"


def _api_routes() -> list[tuple[str, str, Handler, list[str]]]:
    return [
        ("google", f"{_GMAIL}/messages", gmail_list_messages, ["GET"]),
        ("google", f"{_GMAIL}/messages/send", gmail_send, ["POST"]),
        ("google", f"{_GMAIL}/messages/batchModify", gmail_batch_modify, ["POST"]),
        ("google", f"{_GMAIL}/messages/{{id}}", gmail_get_message, ["GET"]),
        ("google", f"{_GMAIL}/messages/{{id}}", gmail_delete_message, ["DELETE"]),
        ("google", f"{_GMAIL}/messages/{{id}}/{{action}}", gmail_modify_message, ["POST"]),
        ("google", f"{_GMAIL}/labels", gmail_labels, ["GET", "POST"]),
        ("google", f"{_GMAIL}/labels/{{id}}", gmail_label, ["GET", "PATCH", "PUT", "DELETE"]),
        ("google", f"{_GMAIL}/drafts", gmail_drafts, ["GET", "POST"]),
        ("google", f"{_GMAIL}/drafts/send", gmail_send_draft, ["POST"]),
        ("google", f"{_GMAIL}/drafts/{{id}}", gmail_draft, ["GET", "DELETE"]),
        ("google", f"{_GMAIL}/threads", gmail_threads, ["GET"]),
        ("google", f"{_GMAIL}/threads/{{id}}", gmail_thread, ["GET"]),
        ("google", f"{_GMAIL}/profile", gmail_profile, ["GET"]),
        ("google", f"{_CAL}/users/me/calendarList", calendar_list, ["GET"]),
        ("google", f"{_CAL}/calendars/{{calendarId}}/events", calendar_events, ["GET", "POST"]),
        (
            "google",
            f"{_CAL}/calendars/{{calendarId}}/events/quickAdd",
            calendar_quick_add,
            ["POST"],
        ),
        (
            "google",
            f"{_CAL}/calendars/{{calendarId}}/events/{{eventId}}",
            calendar_event,
            ["GET", "PATCH", "PUT", "DELETE"],
        ),
        ("google", f"{_CAL}/freeBusy", calendar_freebusy, ["POST"]),
        ("slack", "/{method}", slack_method, ["GET", "POST"]),
        ("github", "/user", github_user, ["GET"]),
        ("github", "/user/repos", github_user_repos, ["GET"]),
        ("github", _REPO, github_repo, ["GET"]),
        ("github", f"{_REPO}/issues", github_issues, ["GET", "POST"]),
        ("github", f"{_REPO}/issues/{{number:int}}", github_issue, ["GET", "PATCH"]),
        ("github", f"{_REPO}/issues/{{number:int}}/comments", github_comments, ["GET", "POST"]),
    ]
