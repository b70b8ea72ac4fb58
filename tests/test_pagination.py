"""Shared keyset pagination: cursors round-trip, pages never skip or repeat, garbage is a 400."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.models import AuditEvent
from configs.models import Connection
from tests.audit.factories import make_event
from vmcp_platform.errors import ValidationFailed
from vmcp_platform.pagination import (
    ASC,
    DESC,
    decode_cursor,
    encode_cursor,
    keyset_page,
    parse_limit,
)

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NEWEST_FIRST = (("occurred_at", DESC), ("id", DESC))


def _walk(queryset, order_fields, limit):
    seen, cursor, pages = [], None, 0
    while True:
        page = keyset_page(queryset, order_fields=order_fields, cursor=cursor, limit=limit)
        seen += page.items
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return seen, pages


def test_a_cursor_round_trips_every_supported_value_type():
    values = (BASE, 2**62, "g1", uuid.UUID("12345678-1234-5678-1234-567812345678"))

    cursor = encode_cursor(values)

    assert decode_cursor(cursor, types=(datetime, int, str, uuid.UUID)) == values
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor


def _raw(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "!!!",
        _raw({"after": "g1"}),  # not a list
        _raw(["2026-03-01T12:00:00+00:00"]),  # too few values
        _raw(["2026-03-01T12:00:00", 5]),  # naive datetime
        _raw(["2026-03-01T12:00:00+00:00", "5"]),  # id not an int
        _raw(["2026-03-01T12:00:00+00:00", True]),
        _raw(["2026-03-01T12:00:00+00:00", 2**63]),  # beyond bigint
        _raw(["2026-03-01T12:00:00+00:00", 5, 6]),  # too many values
    ],
)
def test_a_cursor_this_api_did_not_issue_is_a_400_naming_the_cursor(cursor):
    with pytest.raises(ValidationFailed) as raised:
        decode_cursor(cursor, types=(datetime, int))

    assert raised.value.status == 400
    assert raised.value.details == {"cursor": "invalid cursor"}


def test_a_caller_can_keep_its_own_invalid_cursor_error():
    def error(cursor: str) -> ValidationFailed:
        return ValidationFailed("Nope.", details={"cursor": cursor})

    with pytest.raises(ValidationFailed) as raised:
        decode_cursor("garbage!", types=(str,), error=error)

    assert (raised.value.message, raised.value.details) == ("Nope.", {"cursor": "garbage!"})


def test_descending_pages_break_timestamp_ties_by_id_without_gaps_or_repeats(in_acme):
    made = [make_event(occurred_at=BASE) for _ in range(5)]
    made += [make_event(occurred_at=BASE - timedelta(seconds=i)) for i in range(1, 6)]
    expected = sorted(made, key=lambda e: (e.occurred_at, e.pk), reverse=True)

    seen, pages = _walk(AuditEvent.objects.all(), NEWEST_FIRST, limit=3)

    assert [e.pk for e in seen] == [e.pk for e in expected]
    assert pages == 4


def test_ascending_pages_by_a_unique_name(in_acme):
    for name in ("c", "a", "d", "b"):
        Connection.objects.create(name=name, connector="demo", auth_type="none")

    first = keyset_page(
        Connection.objects.all(), order_fields=(("name", ASC),), cursor=None, limit=3
    )
    rest = keyset_page(
        Connection.objects.all(),
        order_fields=(("name", ASC),),
        cursor=first.next_cursor,
        limit=3,
    )

    assert [c.name for c in first.items] == ["a", "b", "c"]
    assert [c.name for c in rest.items] == ["d"]
    assert rest.next_cursor is None


def test_a_page_that_fits_exactly_has_no_next_cursor(in_acme):
    for _ in range(3):
        make_event(occurred_at=BASE)

    page = keyset_page(AuditEvent.objects.all(), order_fields=NEWEST_FIRST, cursor=None, limit=3)

    assert len(page.items) == 3
    assert page.next_cursor is None


@pytest.mark.parametrize(("raw", "expected"), [(None, 50), ("1", 1), ("200", 200)])
def test_limit_defaults_and_accepts_its_bounds(raw, expected):
    assert parse_limit(raw, maximum=200) == expected


@pytest.mark.parametrize("raw", ["0", "201", "ten", ""])
def test_a_limit_out_of_bounds_is_a_400_naming_limit(raw):
    with pytest.raises(ValidationFailed) as raised:
        parse_limit(raw, maximum=200)

    assert raised.value.details == {"field": "limit"}
