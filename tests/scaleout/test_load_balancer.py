"""Scale-out, proven: three daphne web processes behind HAProxy (round robin, no stickiness),
one shared PostgreSQL and Redis, driven by the official ``mcp`` client on both wires.

No Celery worker: nothing on these paths is queued (audit rows are written on the request
path). If that changes, the audit assertions below fail until a worker is started here.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ToolsListChanged

from audit.models import AuditEvent
from tests.gateway.test_mcp_support import provision
from tests.scaleout.cluster import SERVED_BY, Cluster, run_cluster

WEBS = 3


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Cluster]:  # noqa: ANN001
    with django_db_blocker.unblock(), run_cluster(WEBS, tmp_path_factory.mktemp("lb")) as running:
        yield running


class Agent:
    """One end user's MCP client through the load balancer, recording who served each request."""

    def __init__(self, cluster: Cluster, tenant: Any, config_id: str, token: str) -> None:
        self.url = f"{cluster.url}/t/{tenant.slug}/mcp/{config_id}"
        self.token = token
        self.served_by: list[str] = []
        # (monotonic time the response arrived, the process that served it)
        self.served_at: list[tuple[float, str]] = []
        self.statuses: list[tuple[int, str]] = []
        self.notifications: list[Any] = []
        self.list_changed = asyncio.Event()

    def client(self, mode: str) -> Client:
        async def record(response: httpx2.Response) -> None:
            self.served_by.append(response.headers.get(SERVED_BY, "?"))
            self.served_at.append((time.monotonic(), self.served_by[-1]))
            self.statuses.append((response.status_code, self.served_by[-1]))

        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            event_hooks={"response": [record]},
        )

        async def on_message(message: Any) -> None:
            self.notifications.append(message)
            if isinstance(message, types.ToolListChangedNotification):
                self.list_changed.set()

        return Client(
            streamable_http_client(self.url, http_client=http),
            mode=mode,
            message_handler=on_message,
        )


@pytest.fixture
def live(cluster, live_tenant, django_db_blocker) -> dict[str, Any]:  # noqa: ANN001
    with django_db_blocker.unblock():
        config_id, _, tokens, _ = provision(live_tenant)
    return {"tenant": live_tenant, "config_id": config_id, "tokens": tokens}


def edit_tools(live: dict[str, Any], django_db_blocker: Any, tools: list[str]) -> None:
    """An admin edit of the virtual server, made outside every web process."""
    from configs.models import McpConfig
    from configs.services.mcp_configs import mcp_config_update

    with django_db_blocker.unblock(), tenant_context(live["tenant"]):
        config = McpConfig.objects.get(pk=live["config_id"])
        mcp_config_update(
            config=config, mappings=[{"connection_name": "demo", "tools": tools}], actor="tests"
        )


def audited_runs(live: dict[str, Any], django_db_blocker: Any) -> Counter[str]:
    with django_db_blocker.unblock(), tenant_context(live["tenant"]):
        rows = AuditEvent.objects.filter(event_type="tool.called", outcome="ok")
        return Counter(rows.values_list("agent_run_id", flat=True))


async def test_legacy_session_and_list_changed_survive_requests_on_every_process(
    cluster, live, django_db_blocker
):
    agent = Agent(cluster, live["tenant"], live["config_id"], live["tokens"]["alice"])
    async with agent.client("legacy") as session:
        assert session.protocol_version == "2025-11-25"
        for i in range(6):
            result = await session.call_tool("echo", {"text": f"hop {i}"})
            assert result.content[0].text == f"hop {i}"
        # The session lives in Redis: every process served some of its requests.
        assert set(agent.served_by) == {w.name for w in cluster.webs}
        # The GET stream sits on one process; the edit is announced to all of them via Redis.
        # The SDK opens that stream in the background; an edit made before it is open reaches
        # nobody, so edit again (same result) until the notification arrives.
        for _ in range(5):
            await sync_to_async(edit_tools)(live, django_db_blocker, ["demo_add"])
            try:
                await asyncio.wait_for(agent.list_changed.wait(), timeout=3)
                break
            except TimeoutError:
                continue
        assert agent.list_changed.is_set()
        assert [t.name for t in (await session.list_tools()).tools] == ["demo_add"]
        assert (await session.call_tool("demo_add", {"a": 2, "b": 40})).structured_content == {
            "sum": 42
        }


async def test_modern_listen_stream_hears_an_edit_while_calls_land_elsewhere(
    cluster, live, django_db_blocker
):
    agent = Agent(cluster, live["tenant"], live["config_id"], live["tokens"]["bob"])
    async with agent.client("auto") as session:
        assert session.protocol_version == "2026-07-28"
        async with session.listen(tools_list_changed=True) as subscription:
            for i in range(4):
                assert (await session.call_tool("echo", {"text": str(i)})).is_error is False
            await sync_to_async(edit_tools)(live, django_db_blocker, ["demo_current_time"])
            event = await asyncio.wait_for(anext(subscription), timeout=10)
            assert isinstance(event, ToolsListChanged)
        assert [t.name for t in (await session.list_tools()).tools] == ["demo_current_time"]
    # Calls and the listen stream were spread over the processes (no stickiness).
    assert len(set(agent.served_by)) >= 2


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_killing_a_web_process_mid_run_loses_no_completed_call(
    cluster, live, django_db_blocker, mode
):
    agent = Agent(cluster, live["tenant"], live["config_id"], live["tokens"]["alice"])
    victim = cluster.webs[-1]
    completed: list[str] = []
    failed: list[str] = []
    calls, kill_after = 24, 8
    after_kill: list[str] = []

    transport_errors: list[BaseException] = []
    sessions, killed, i = 0, False, 0
    killed_at: list[float] = []

    def kill_and_stamp() -> None:
        cluster.kill(victim)
        killed_at.append(time.monotonic())

    async def one(session, run_id: str) -> None:  # noqa: ANN001
        try:
            result = await session.call_tool("echo", {"text": run_id}, meta={"agentRunId": run_id})
        except Exception:  # the call in flight on the dying process, if any
            failed.append(run_id)
            return
        (completed if result.is_error is False else failed).append(run_id)

    try:
        # The SDK ends a session whose connection died (the call in flight, or on the legacy
        # wire its standalone GET stream, when either was on the killed process); the client
        # recovers by opening a new session, once. A call cut off that way is re-sent under a
        # new run id, so "exactly one audit row per completed run" still holds.
        while i < calls and sessions < 2:
            sessions += 1
            try:
                async with agent.client(mode) as session:
                    while i < calls:
                        run_id = f"{mode}-{i}" if sessions == 1 else f"{mode}-{i}-again"
                        if i == kill_after and not killed:
                            # Mid-run: another call is in flight while the process dies.
                            killed = True
                            in_flight = asyncio.ensure_future(one(session, run_id))
                            await asyncio.sleep(0.002)
                            # The kill's end is stamped in its own thread: when the session dies
                            # with the process, the cancellation lands on this await, and the
                            # call in flight may still be answered by the victim just before.
                            await sync_to_async(kill_and_stamp)()
                            await in_flight
                        else:
                            await one(session, run_id)
                        i += 1
            except* httpx2.TransportError as group:
                transport_errors.extend(group.exceptions)
    finally:
        survivors = {w.name for w in cluster.webs if w is not victim}
        await sync_to_async(cluster.wait_until_serving)(survivors)
        # Only responses that arrived once the victim was dead (and waited for).
        after_kill = [name for at, name in agent.served_at if killed_at and at > killed_at[0]]
        # Back for the other tests (after the requests above proved it out of rotation).
        await sync_to_async(cluster.revive)(victim)

    # At most the call in flight at the kill failed, and (when the session went down with the
    # process) the one call the ending session cut off.
    assert len(failed) <= 1 + (sessions - 1), failed
    # The kill cost at most the one session; the client got going again on the next request.
    assert i == calls and (sessions == 1 or transport_errors), (i, sessions)
    assert len(completed) >= calls - 1
    # Requests after the kill were all served by the survivors (HAProxy re-sent the ones it
    # tried on the dead process before its health check noticed).
    assert len(after_kill) >= calls - kill_after - 1 and victim.name not in after_kill
    # Every call the client saw complete has exactly one audit row; none was lost or doubled.
    audited = await sync_to_async(audited_runs)(live, django_db_blocker)
    assert {run: audited[run] for run in completed} == {run: 1 for run in completed}


async def test_a_rate_limit_holds_exactly_across_processes(cluster, live, django_db_blocker):
    from configs.models import McpConfig

    limit, extra = 5, 4

    def set_limit() -> None:
        with django_db_blocker.unblock(), tenant_context(live["tenant"]):
            McpConfig.objects.filter(pk=live["config_id"]).update(rate_limit_per_minute=limit)

    await sync_to_async(set_limit)()
    agent = Agent(cluster, live["tenant"], live["config_id"], live["tokens"]["bob"])
    async with agent.client("auto") as session:
        # As an agent does: the tool list first (the SDK also validates results against it).
        await session.list_tools()
        results = await asyncio.gather(
            *[session.call_tool("echo", {"text": str(i)}) for i in range(limit + extra)]
        )
    through = [r for r in results if r.is_error is False]
    refused = [r for r in results if r.is_error and r.content[0].text.startswith("Rate limited")]
    assert (len(through), len(refused)) == (limit, extra)
    assert {status for status, _ in agent.statuses} <= {200, 202, 204}, agent.statuses
    calls_served_by = Counter(agent.served_by)
    assert len(calls_served_by) == WEBS  # the burst was spread over every process
