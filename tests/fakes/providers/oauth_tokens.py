"""The token endpoint of ``FakeProviders``' OAuth side: code exchange (with PKCE), refresh
(optionally rotating), and the log of every token request the tests assert on.

A mixin under ``OAuthMixin`` (``oauth.py``, the authorize/consent/revoke half), split off so each
half reads on its own; both work on the state ``FakeProviders`` owns.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .base import (
    Revocation,
    TokenRequest,
    _bearer,
    _body_params,
    _Client,
    _client_credentials,
    _Code,
    _github_error,
    _Token,
    s256,
)
from .oauth_responses import _token_payload, _token_response


class TokenEndpointMixin:
    """``/…/token`` for every fake provider: ``authorization_code`` and ``refresh_token``."""

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
            _token_payload(
                provider,
                code.user,
                code.scopes,
                access,
                refresh,
                ttl=self.access_token_ttl,
            ),
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
        payload = _token_payload(
            provider,
            token.user,
            token.scopes,
            access,
            new_refresh,
            ttl=self.access_token_ttl,
            refreshing=True,
        )
        return "ok", token.user, payload

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
