"""The OAuth 2.0 side of ``FakeProviders``: authorize, consent, revoke, and the token store
(the token endpoint is ``oauth_tokens.TokenEndpointMixin``).

A mixin: ``FakeProviders`` owns the state (``reset``) and the lock; this holds the flow.
"""

from __future__ import annotations

import html
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .base import (
    Revocation,
    TokenRequest,
    _Client,
    _Code,
    _redirect,
    _Token,
)
from .oauth_responses import _consent_page, _error_page
from .oauth_tokens import TokenEndpointMixin


class OAuthMixin(TokenEndpointMixin):
    """Authorization-code + PKCE flow, refresh, revocation, and the token store behind them."""

    # Set by FakeProviders.__init__ / reset().
    _lock: threading.RLock
    _clients: dict[tuple[str, str], _Client]
    _pending: dict[str, dict[str, Any]]
    _codes: dict[str, _Code]
    _tokens: dict[str, _Token]
    token_requests: list[TokenRequest]
    revoked: set[str]
    revocations: list[Revocation]
    rotate_refresh_tokens: bool
    require_pkce: bool
    fail_next_token_requests: int
    token_latency: float
    access_token_ttl: int
    code_ttl: float

    def _oauth_routes(self) -> list[Route]:
        return [
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
