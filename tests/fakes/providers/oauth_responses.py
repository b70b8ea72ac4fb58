"""What each provider's OAuth endpoints answer: consent and error pages, token bodies."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from .base import _DISPLAY, SLACK_TEAM, slack_user_id


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


def _token_payload(
    provider: str,
    user: str,
    scopes: tuple[str, ...],
    access: str,
    refresh: str | None,
    *,
    ttl: int,
    refreshing: bool = False,
) -> dict[str, Any]:
    """The provider's token-endpoint success body."""
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
