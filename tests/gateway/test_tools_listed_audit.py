"""Each tools/list an agent receives leaves one small audit row: how many tools, how many
tokens of definitions (the overview's token savings come from these, not from an estimate)."""

from __future__ import annotations

# ruff: noqa: F811 - pytest fixtures imported from test_mcp_support
import asyncio

import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.gateway.test_mcp_support import McpLive, mcp_live  # noqa: F401


def _listed(live: McpLive, django_db_blocker) -> list:  # noqa: ANN001
    from audit.models import AuditEvent

    with django_db_blocker.unblock(), tenant_context(live.tenant):
        return list(AuditEvent.objects.filter(event_type="tools.listed").order_by("id"))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_listing_is_audited_with_its_tool_and_token_counts(
    mcp_live, django_db_blocker, mode
):
    from dashboard.catalog import estimate_tokens

    http = mcp_live.sdk_http("alice")
    async with Client(streamable_http_client(mcp_live.url, http_client=http), mode=mode) as c:
        listed = (await c.list_tools()).tools
    # Written in the background (the listing does not wait for it): give it a moment.
    for _ in range(50):
        rows = await sync_to_async(_listed)(mcp_live, django_db_blocker)
        if rows:
            break
        await asyncio.sleep(0.1)
    assert len(rows) == 1
    (row,) = rows
    assert (row.identifier, str(row.config_id), str(row.session_token_id)) == (
        "alice",
        mcp_live.config_id,
        mcp_live.token_ids["alice"],
    )
    assert row.actor == "identifier:alice" and row.outcome == "ok"
    definitions = [t.model_dump(exclude_none=True, by_alias=True) for t in listed]
    assert row.extra["tool_count"] == len(listed) == 2
    # The dashboard's estimate of what was sent, give or take the SDK's own serialisation.
    assert abs(row.extra["token_count"] - sum(estimate_tokens(d) for d in definitions)) <= 4
