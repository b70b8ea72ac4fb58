"""``FakeProviders``: the server, its state, test steering, and the API plumbing."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .base import (
    _ALL_METHODS,
    _API_PREFIX,
    PROVIDERS,
    RecordedRequest,
    Revocation,
    TokenRequest,
    _bearer,
    _Call,
    _Client,
    _Code,
    _Forced,
    _github_error,
    _google_error,
    _query,
    _read_body,
    _slack_error,
    _Token,
    provider_name,
)
from .github import ROUTES as GITHUB_ROUTES
from .github import _GitHub
from .gmail import ROUTES as GMAIL_ROUTES
from .google_calendar import ROUTES as CALENDAR_ROUTES
from .google_calendar import _Calendars
from .mailbox import _Mailbox
from .oauth import OAuthMixin
from .slack import ROUTES as SLACK_ROUTES
from .slack import _Workspace

_API_ROUTES = [*GMAIL_ROUTES, *CALENDAR_ROUTES, *SLACK_ROUTES, *GITHUB_ROUTES]


class FakeProviders(OAuthMixin):
    """The fake Google, Slack and GitHub; see the ``tests.fakes.providers`` docstring."""

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

    # -- routes -------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        routes = self._oauth_routes()
        for provider, path, handler, methods in _API_ROUTES:
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
