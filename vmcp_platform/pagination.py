"""Keyset pagination behind every ``{"data": [...], "next_cursor": ...}`` list in the API.

A page is the rows after the previous page's last row in a fixed order, so it never skips or
repeats rows when others are inserted meanwhile, and reads one index range instead of counting
past an offset. The cursor is that last row's ordering values, JSON-encoded and URL-safe
base64'd: opaque to callers, who only hand back the ``next_cursor`` they were given.

Usage, from a list view::

    ORDER = (("created_at", DESC), ("id", DESC))
    page = keyset_page(Account.objects.all(), order_fields=ORDER, cursor=cursor, limit=50)
    return Response({"data": Out(page.items, many=True).data, "next_cursor": page.next_cursor})

This module is deliberately free of DRF: selectors use it too.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

from django.db import models
from django.db.models import Q, QuerySet

from .errors import ValidationFailed

ASC: Final = "asc"
DESC: Final = "desc"
Direction = Literal["asc", "desc"]
# (field name, direction), most significant first. The last field must be unique (usually the
# primary key): it breaks ties, so the order is total and a cursor names exactly one position.
OrderFields = Sequence[tuple[str, Direction]]
CursorValue = datetime | int | str | uuid.UUID
InvalidCursorError = Callable[[str], ValidationFailed]

DEFAULT_LIMIT = 50

# What a primary key or counter can hold in PostgreSQL (bigint); anything else in a cursor is
# garbage, and rejecting it here keeps it out of the query.
_BIGINT = range(-(2**63), 2**63)

RowT = TypeVar("RowT", bound=models.Model)


@dataclass(frozen=True)
class Page(Generic[RowT]):
    items: list[RowT]
    next_cursor: str | None


def invalid_cursor(cursor: str) -> ValidationFailed:
    """The default error for a cursor this API did not issue; it names the ``cursor`` field."""
    return ValidationFailed("The cursor is invalid.", details={"cursor": "invalid cursor"})


def encode_cursor(values: Sequence[CursorValue]) -> str:
    """An opaque cursor for a row's ordering values (datetimes, ints, strings, UUIDs)."""
    raw = json.dumps([_to_json(value) for value in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str,
    *,
    types: Sequence[type[CursorValue]],
    error: InvalidCursorError = invalid_cursor,
) -> tuple[CursorValue, ...]:
    """The values ``encode_cursor`` packed, each checked against ``types``.

    Anything else (bad base64 or JSON, wrong arity or types, a naive datetime) raises the
    ValidationFailed that ``error`` builds: a 400, never a query with a garbage value.
    """
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        return tuple(_from_json(value, kind) for value, kind in zip(values, types, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise error(cursor) from None


def keyset_page(
    queryset: QuerySet[RowT],
    *,
    order_fields: OrderFields,
    cursor: str | None,
    limit: int,
    error: InvalidCursorError = invalid_cursor,
) -> Page[RowT]:
    """Up to ``limit`` rows of ``queryset`` after ``cursor`` in ``order_fields`` order.

    The queryset is (re)ordered by ``order_fields``, so the page and its cursor always agree.
    ``next_cursor`` is None on the last page.
    """
    model = queryset.model
    ordered = queryset.order_by(*ordering(order_fields))
    if cursor:
        types = [_cursor_type(model, name) for name, _ in order_fields]
        values = decode_cursor(cursor, types=types, error=error)
        ordered = ordered.filter(_after(order_fields, values))
    rows = list(ordered[: limit + 1])
    if len(rows) <= limit:
        return Page(items=rows, next_cursor=None)
    rows = rows[:limit]
    last = rows[-1]
    return Page(
        items=rows, next_cursor=encode_cursor([getattr(last, name) for name, _ in order_fields])
    )


def ordering(order_fields: OrderFields) -> list[str]:
    """``order_fields`` as ``QuerySet.order_by`` arguments: ``["-created_at", "-id"]``."""
    return [f"-{name}" if direction == DESC else name for name, direction in order_fields]


def parse_limit(value: str | None, *, maximum: int, default: int = DEFAULT_LIMIT) -> int:
    """A raw ``?limit=`` value as an int from 1 to ``maximum``; ``default`` when absent."""
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        raise ValidationFailed(
            f"limit must be an integer from 1 to {maximum}.", details={"field": "limit"}
        )
    return limit


def _after(order_fields: OrderFields, values: Sequence[CursorValue]) -> Q:
    """Rows strictly after ``values`` in ``order_fields`` order.

    Lexicographic, so ties on a field fall through to the next one: after (x, y) means
    ``a > x OR (a = x AND b > y)``, with ``<`` instead of ``>`` for a descending field.
    """
    condition = Q()
    equal_so_far: dict[str, Any] = {}
    for (name, direction), value in zip(order_fields, values, strict=True):
        lookup = "lt" if direction == DESC else "gt"
        condition |= Q(**equal_so_far, **{f"{name}__{lookup}": value})
        equal_so_far[name] = value
    return condition


def _cursor_type(model: type[models.Model], name: str) -> type[CursorValue]:
    field = model._meta.get_field(name)
    if isinstance(field, models.DateTimeField):
        return datetime
    if isinstance(field, models.UUIDField):
        return uuid.UUID
    if isinstance(field, models.IntegerField):  # includes AutoField, BigAutoField
        return int
    if isinstance(field, models.CharField | models.TextField):
        return str
    raise TypeError(f"Cannot page {model.__name__} by {name}: unsupported field type.")


def _to_json(value: CursorValue) -> str | int:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        return value
    raise TypeError(f"Cannot put a {type(value).__name__} in a cursor.")


def _from_json(value: Any, kind: type[CursorValue]) -> CursorValue:
    """``value`` as ``kind``; ValueError when it cannot be one this API put there."""
    if kind is datetime:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        if parsed is None or parsed.tzinfo is None:
            raise ValueError("not an aware ISO 8601 datetime")
        return parsed
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise ValueError("not a UUID")
        return uuid.UUID(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in _BIGINT:
            raise ValueError("not a bigint")
        return value
    if kind is str:
        # PostgreSQL text cannot hold NUL; such a value would fail in the driver, not here.
        if not isinstance(value, str) or "\x00" in value:
            raise ValueError("not a string")
        return value
    raise TypeError(f"Unsupported cursor value type {kind!r}.")
