"""The fake providers' shared vocabulary: names, records, request parsing, error shapes.

Names with a leading underscore are internal to the ``tests.fakes.providers`` package: its
modules share them, tests use what ``__init__`` exports.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from .server import FakeProviders

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


# An API handler gets the fake (lock held) and the authenticated call.
Handler = Callable[["FakeProviders", _Call], Response]


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


def pick_keys(source: Any, names: Iterable[str]) -> dict[str, Any]:
    if not isinstance(source, dict):
        return {}
    return {name: source[name] for name in names if name in source}


# ---------------------------------------------------------------------------------------------
# Provider error shapes


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


# ---------------------------------------------------------------------------------------------
# Ids and times in the providers' formats

_ids = itertools.count(1)


def _hex_id(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, [*parts, next(_ids)])).encode()).hexdigest()[:16]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
