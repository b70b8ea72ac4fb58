"""What the sync and async clients share: requests as data (``Op``), answers, retries.

Each API method builds an ``Op`` (method, path, query, body, how to read the answer); the sync
client sends it with ``httpx.Client``, the async one with ``httpx.AsyncClient``. So a method's
behaviour is written once and both clients have it.

Retries: a 429 (rate limited) or 503 (a dependency down) means vmcp ran nothing, so the request
is sent again, up to ``max_retries`` times, after the server's ``Retry-After`` when it sent one,
else after an exponential backoff with jitter. A wait longer than ``max_retry_wait`` is not
waited: the error is raised at once with its ``retry_after``, for the caller to schedule.
Connection failures are retried the same way for reads (GET) only: a POST that may have reached
the server is not sent twice.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from .errors import VmcpError, error_from_response

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 503})
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "vmcp-client-python/0.1.0"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff: float = 0.5  # first wait without Retry-After; doubles each time
    max_backoff: float = 8.0
    max_retry_wait: float = 60.0  # a longer Retry-After is raised, not waited

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up."""
        if attempt >= self.max_retries:
            return None
        if response is not None:
            after = retry_after_seconds(response)
            if after is not None:
                return after if after <= self.max_retry_wait else None
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(response: httpx.Response) -> Any:
    return response.json()


def _nothing(response: httpx.Response) -> None:
    return None


@dataclass(frozen=True)
class Op(Generic[T]):
    method: str
    path: str  # under /t/<tenant>/api/v1/
    params: dict[str, Any] | None = None
    json: Any = None
    parse: Callable[[httpx.Response], T] = field(default=_json)  # type: ignore[assignment]

    @property
    def idempotent(self) -> bool:
        return self.method in {"GET", "HEAD", "PUT", "DELETE"}


def seg(value: object) -> str:
    """One path segment, escaped (identifiers and names may hold any character)."""
    return quote(str(value), safe="")


def query(**values: Any) -> dict[str, Any]:
    """Query parameters without the unset ones; booleans as the API spells them."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def body(**values: Any) -> dict[str, Any]:
    """A JSON body without the unset (None) fields."""
    return {key: value for key, value in values.items() if value is not None}


def api_base(base_url: str, tenant: str) -> str:
    return f"{base_url.rstrip('/')}/t/{seg(tenant)}/api/v1/"


def headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}


def raise_for(response: httpx.Response) -> None:
    """Raise the error class of the answer's code when it is not a success."""
    if response.status_code < 400:
        return
    try:
        payload = response.json()
    except ValueError:
        payload = None
    raise error_from_response(
        response.status_code,
        payload,
        retry_after=retry_after_seconds(response),
        request_id=response.headers.get("X-Request-ID"),
    )


def transport_error(exc: httpx.TransportError) -> VmcpError:
    from .errors import TransportError

    return TransportError(f"{type(exc).__name__}: {exc}")
