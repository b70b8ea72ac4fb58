"""Formatting for dashboard templates, in one place (templates themselves stay logic-free)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django import template
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince

from tenants.selectors import memberships_for_user

register = template.Library()

OUTCOME_CLASSES = {"ok": "ok", "error": "err", "denied": "warn"}
STATUS_CLASSES = {
    "ACTIVE": "ok",
    "PENDING_AUTH": "info",
    "EXPIRED": "warn",
    "REVOKED": "muted",
    "ERROR": "err",
}

# How people write them: "OAuth 2.0", not Django's title-cased "Oauth2".
AUTH_LABELS = {
    "oauth2": "OAuth 2.0",
    "api_key": "API key",
    "shared_header": "Shared header",
    "none": "No credential",
}


@register.filter
def auth_label(auth_type: str) -> str:
    return AUTH_LABELS.get(str(auth_type), str(auth_type))


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now" under a minute (not Django's "0 minutes ago"), else "5 minutes ago"."""
    if value is None:
        return "—"
    if (timezone.now() - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value).split(',')[0]} ago"


@register.filter
def thousands(value: Any) -> str:
    """1234567 → "1,234,567"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def ms(value: float | None) -> str:
    """A latency: "—" when there is none, "12 ms", "1.4 s"."""
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{round(value)} ms"


@register.filter
def compact(value: Any) -> str:
    """12345 → "12.3k", 4500000 → "4.5M": a headline figure."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return str(value)
    if abs(number) >= 1_000_000:
        return f"{number / 1_000_000:.1f}M"
    if abs(number) >= 10_000:
        return f"{number / 1000:.1f}k"
    return f"{number:,}"


@register.filter
def saving(scoped: int, full: int) -> str:
    """How much smaller the scoped catalog is than the full one: "−96%" (a true minus sign)."""
    if not full:
        return "0%"
    percent = round(100 * (full - scoped) / full)
    return f"−{percent}%" if percent > 0 else f"+{-percent}%" if percent < 0 else "0%"


@register.filter
def outcome_class(outcome: str) -> str:
    return OUTCOME_CLASSES.get(outcome, "info")


@register.filter
def status_class(status: str) -> str:
    return STATUS_CLASSES.get(status, "info")


@register.filter
def when(value: datetime | None) -> str:
    """A timestamp as the dashboard shows it: "2026-05-04 13:02 UTC"."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    return (mapping or {}).get(key)


@register.simple_tag(takes_context=True)
def url_with(context: dict, **changes: Any) -> str:
    """The current query string with some parameters changed (pagination keeps the filters)."""
    request: HttpRequest = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + urlencode(list(params.lists()), doseq=True) if params else "?"


@register.inclusion_tag("dashboard/_switcher.html", takes_context=True)
def tenant_switcher(context: dict) -> dict:
    request: HttpRequest = context["request"]
    current = getattr(request, "tenant", None)
    return {
        "current": current,
        "memberships": list(memberships_for_user(user=request.user)),
    }


@register.filter
def actor_label(actor: str) -> str:
    """ "apikey:<id>:backend" → "API key backend"; "user:a@b" → "a@b"; the stored form otherwise."""
    kind, _, rest = (actor or "").partition(":")
    if kind == "apikey" and rest:
        return f"API key {rest.partition(':')[2] or rest}"
    if kind == "user" and rest:
        return rest
    if kind == "identifier" and rest:
        return f"end user {rest}"
    return actor or "—"
