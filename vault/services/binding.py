"""Binding an OAuth flow to the browser that started it (RFC 9700 §2.1 and §4.7).

The ``state`` travels through the provider in a URL, so on its own it proves nothing about who
comes back: an attacker could start a flow for their own identifier, hand the provider's
authorize URL to a victim, and the victim's consent would land under the attacker's account.
So when the end user presses Continue, their browser also gets a random value in a cookie; the
state row keeps only its hash, and the callback is accepted only with the matching cookie.

The cookie is ``HttpOnly``, ``SameSite=Lax`` (the provider's redirect back is a top-level GET,
which Lax cookies survive), ``Secure`` when ``PUBLIC_BASE_URL`` is https, lives as long as the
state, and is named after the state, so two flows in one browser (two tabs) do not overwrite
each other. Its path is the callback's, ``/oauth/callback``: that one URL serves every tenant
(it is what providers have registered), so a tenant-scoped path would never reach it; the
tenant scoping comes from the state, which names the tenant whose schema holds the hash.

Under https the cookie is a ``__Host-`` cookie (Secure, ``Path=/``, no Domain): a browser then
refuses the same name set by a sibling subdomain, which could otherwise plant the attacker's own
binding (its value is known to whoever started that flow) in the victim's browser. ``__Host-``
forces ``Path=/``; over plain http (development) the callback path is used instead.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

from django.conf import settings

from vmcp_platform import tokens

COOKIE_PREFIX = "vmcp_oauth_"
COOKIE_PATH = "/oauth/callback"
HOST_ONLY_PREFIX = "__Host-"


def _secure() -> bool:
    return settings.PUBLIC_BASE_URL.startswith("https://")


def cookie_path() -> str:
    """Where the cookie lives: ``/`` for a ``__Host-`` cookie (https), else the callback."""
    return "/" if _secure() else COOKIE_PATH


@dataclass(frozen=True)
class BrowserBinding:
    """What the connect page sets in the browser; ``value`` is secret (repr=False)."""

    name: str
    value: str = field(repr=False)
    max_age: int
    path: str = COOKIE_PATH
    secure: bool = False
    httponly: bool = True
    samesite: str = "Lax"


def browser_cookie_name(state: str) -> str:
    """The cookie that belongs to this state (a prefix of the state's hash, nothing secret)."""
    prefix = HOST_ONLY_PREFIX if _secure() else ""
    return prefix + COOKIE_PREFIX + tokens.hash_token(state)[:16]


def browser_binding_new(*, state: str, max_age: int) -> tuple[BrowserBinding, str]:
    """A fresh binding for ``state`` and the hash to store with the state row."""
    value = secrets.token_urlsafe(32)
    binding = BrowserBinding(
        name=browser_cookie_name(state),
        value=value,
        max_age=max_age,
        path=cookie_path(),
        secure=_secure(),
    )
    return binding, tokens.hash_token(value)


def browser_binding_matches(*, stored_hash: str, cookie_value: str | None) -> bool:
    """Constant-time check of the browser's cookie against the state's stored hash."""
    if not stored_hash or not cookie_value:
        return False
    return hmac.compare_digest(tokens.hash_token(cookie_value), stored_hash)
