"""No value from the wire can make an audit row unstorable, and the spool cannot fill Redis.

PostgreSQL's jsonb refuses NaN, Infinity and NUL; Python's json accepts the first two (and
turns 1e999 into infinity). A refused row used to be spooled and retried forever, so the call
never got its row, while the spool grew without bound.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from audit.spool import SPOOL_KEY, spool_drain, spool_push
from gateway.mcp.jsonrpc import PARSE_ERROR, JsonRpcError, parse_message
from vmcp_platform.sanitize import wire_value


@pytest.mark.parametrize(
    "arguments", ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e999}']
)
def test_non_finite_numbers_are_a_parse_error(arguments):
    body = (
        '{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
        f' "params": {{"name": "echo", "arguments": {arguments}}}}}'
    ).encode()
    with pytest.raises(JsonRpcError) as refused:
        parse_message(body)
    assert refused.value.code == PARSE_ERROR


def test_finite_numbers_still_parse():
    message = parse_message(b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": 1.5}}')
    assert message.params == {"x": 1.5}


def test_non_finite_values_are_stored_as_null(in_acme):
    assert wire_value({"a": float("nan"), "b": [float("inf")]}) == {"a": None, "b": [None]}
    event = audit_record(
        event_type="tool.called", extra={"execution_id": "e-nan", "x": float("-inf")}
    )
    event.refresh_from_db()
    assert event.extra == {"execution_id": "e-nan", "x": None}


def test_an_oversize_extra_keeps_only_what_identifies_the_call(in_acme):
    arguments = {f"k{i}": "v" * 1000 for i in range(90)}
    event = audit_record(
        event_type="tool.called", extra={"execution_id": "e-big", "arguments": arguments}
    )
    event.refresh_from_db()
    assert event.extra == {"execution_id": "e-big", "truncated": True}


@pytest.fixture
def spool():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(SPOOL_KEY)
    yield client
    client.delete(SPOOL_KEY)
    client.close()


def test_a_row_whose_details_postgres_refuses_is_stored_without_them(in_acme, spool):
    # A NUL inside extra gets past nothing today, but whatever a row carries, the drain must
    # store the call rather than re-queue it forever.
    record = {
        "schema": in_acme.schema_name,
        "fields": {
            "event_type": "tool.called",
            "tool_name": "echo",
            "occurred_at": timezone.now().isoformat(),
            "extra": {"execution_id": "e-nul", "x": "a\u0000b"},
        },
    }
    spool.rpush(SPOOL_KEY, json.dumps(record))

    assert spool_drain() == 1

    assert spool.llen(SPOOL_KEY) == 0
    event = AuditEvent.objects.get(extra__execution_id="e-nul")
    assert (event.tool_name, event.extra) == (
        "echo",
        {"execution_id": "e-nul", "unstorable_details": True},
    )


def test_the_spool_is_bounded(in_acme, spool):
    fields = {"event_type": "tool.called", "extra": {"execution_id": "e"}}

    async def push_three() -> list[bool]:
        return [
            await spool_push(
                schema_name=in_acme.schema_name, fields=fields, occurred_at=timezone.now()
            )
            for _ in range(3)
        ]

    with override_settings(VMCP_AUDIT_SPOOL_MAX_ROWS=2):
        pushed = asyncio.run(push_three())

    assert pushed == [True, True, False]
    assert spool.llen(SPOOL_KEY) == 2
