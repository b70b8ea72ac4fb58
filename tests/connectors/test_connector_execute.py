"""Tool calls end to end through ``Connector.execute``, over real HTTP to the fake providers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connectors import all_connectors
from connectors.base import Tool, ToolResult
from tests.fakes.providers import FakeProviders
from vmcp_platform.errors import ProviderError, ValidationFailed

Execute = Callable[..., Awaitable[ToolResult]]  # the ``execute`` fixture from conftest

pytestmark = pytest.mark.asyncio


async def test_each_user_reads_their_own_mailbox_with_their_own_token(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    alice = fake_providers.issue_token("gmail", "alice")["access_token"]
    bob = fake_providers.issue_token("gmail", "bob")["access_token"]

    alice_list = (await execute("gmail_fetch_mails", {"q": "welcome"}, token=alice)).content
    bob_list = (await execute("gmail_fetch_mails", {"q": "welcome"}, token=bob)).content

    alice_id = _json(alice_list)["messages"][0]["id"]
    bob_id = _json(bob_list)["messages"][0]["id"]
    assert alice_id != bob_id
    alice_msg = _json((await execute("gmail_get_message", {"id": alice_id}, token=alice)).content)
    assert _header(alice_msg, "Subject") == "Welcome, alice"
    with pytest.raises(ProviderError) as crossed:
        await execute("gmail_get_message", {"id": alice_id}, token=bob)
    assert crossed.value.provider_status == 404
    assert [(r.path, r.user) for r in fake_providers.requests] == [
        ("/gmail/v1/users/me/messages", "alice"),
        ("/gmail/v1/users/me/messages", "bob"),
        (f"/gmail/v1/users/me/messages/{alice_id}", "alice"),
        (f"/gmail/v1/users/me/messages/{alice_id}", "bob"),
    ]
    assert all("authorization" not in r.headers for r in fake_providers.requests)


async def test_sent_email_lands_in_the_senders_sent_folder(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    alice = fake_providers.issue_token("gmail", "alice")["access_token"]

    sent = await execute(
        "gmail_send_email",
        {"to": ["bob@example.com"], "subject": "Lunch?", "body": "Noon at Max's"},
        token=alice,
    )

    assert sent.structured is not None and sent.structured["labelIds"] == ["SENT"]
    listed = _json(
        (await execute("gmail_fetch_mails", {"labelIds": ["SENT"]}, token=alice)).content
    )
    assert listed["messages"] == [{"id": sent.structured["id"], "threadId": sent.structured["id"]}]
    message = _json(
        (await execute("gmail_get_message", {"id": sent.structured["id"]}, token=alice)).content
    )
    assert _header(message, "To") == "bob@example.com"
    assert _header(message, "Subject") == "Lunch?"
    assert fake_providers.requests[1].query == {"labelIds": "SENT"}


async def test_calendar_event_round_trip_on_a_quoted_calendar_id(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    token = fake_providers.issue_token("googlecalendar", "alice")["access_token"]
    calendars = _json((await execute("googlecalendar_list_calendars", {}, token=token)).content)
    holidays = calendars["items"][1]["id"]
    start, end = "2030-05-01T09:00:00Z", "2030-05-01T10:00:00Z"

    created = _json(
        (
            await execute(
                "googlecalendar_create_event",
                {
                    "calendarId": holidays,
                    "summary": "Picnic",
                    "start": {"dateTime": start},
                    "end": {"dateTime": end},
                },
                token=token,
            )
        ).content
    )
    listed = _json(
        (await execute("googlecalendar_list_events", {"calendarId": holidays}, token=token)).content
    )
    busy = _json(
        (
            await execute(
                "googlecalendar_freebusy",
                {"timeMin": start, "timeMax": "2030-05-02T00:00:00Z", "calendars": [holidays]},
                token=token,
            )
        ).content
    )
    await execute(
        "googlecalendar_delete_event",
        {"calendarId": holidays, "eventId": created["id"]},
        token=token,
    )

    assert [e["summary"] for e in listed["items"]] == ["Picnic"]
    assert busy["calendars"][holidays] == {"busy": [{"start": start, "end": end}]}
    assert fake_providers.requests[1].path == (
        "/calendar/v3/calendars/en.usa%23holiday%40group.v.calendar.google.com/events"
    )
    with pytest.raises(ProviderError) as gone:
        await execute(
            "googlecalendar_get_event",
            {"calendarId": holidays, "eventId": created["id"]},
            token=token,
        )
    assert gone.value.provider_status == 404


async def test_slack_posts_as_the_connected_user_in_their_workspace(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    token = fake_providers.issue_token("slack", "alice")["access_token"]

    posted = _json(
        (
            await execute(
                "slack_post_message", {"channel": "C0GENERAL1", "text": "Standup in 5"}, token=token
            )
        ).content
    )
    history = _json(
        (await execute("slack_channel_history", {"channel": "C0GENERAL1"}, token=token)).content
    )
    me = _json((await execute("slack_get_current_user", {}, token=token)).content)

    assert posted["ok"] is True and posted["message"]["user"] == me["user_id"]
    assert history["messages"][0]["text"] == "Standup in 5"
    recorded = fake_providers.requests[0]
    assert (recorded.method, recorded.path, recorded.user) == ("POST", "/chat.postMessage", "alice")
    assert recorded.json == {"channel": "C0GENERAL1", "text": "Standup in 5"}
    assert recorded.headers["content-type"] == "application/json; charset=utf-8"
    assert fake_providers.requests[1].query == {"channel": "C0GENERAL1"}


async def test_github_issue_round_trip_sends_the_api_version(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    token = fake_providers.issue_token("github", "alice")["access_token"]
    args = {"owner": "acme", "repo": "web"}

    created = _json(
        (await execute("github_create_issue", {**args, "title": "Crash"}, token=token)).content
    )
    listed = _json((await execute("github_list_issues", args, token=token)).content)

    assert created["number"] == 1 and created["user"]["login"] == "alice"
    assert [i["title"] for i in listed] == ["Crash"]
    headers = fake_providers.requests[0].headers
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"


@pytest.mark.parametrize("provider", ["gmail", "googlecalendar", "slack", "github"])
async def test_an_unknown_token_is_a_401_provider_error(
    fake_providers: FakeProviders, execute: Execute, provider: str
) -> None:
    tool = {
        "gmail": "gmail_get_profile",
        "googlecalendar": "googlecalendar_list_calendars",
        "slack": "slack_list_users",
        "github": "github_get_authenticated_user",
    }[provider]
    with pytest.raises(ProviderError) as raised:
        await execute(tool, {}, token="not-a-token")
    assert raised.value.provider_status == 401
    assert fake_providers.requests[0].user is None


async def test_a_revoked_or_expired_token_stops_working_for_that_user_only(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    alice = fake_providers.issue_token("slack", "alice")["access_token"]
    bob = fake_providers.issue_token("slack", "bob")["access_token"]
    carol = fake_providers.issue_token("github", "carol", expires_in=3600)["access_token"]
    fake_providers.revoke_user("slack", "alice")
    fake_providers.expire_access_tokens("github", "carol")

    with pytest.raises(ProviderError) as revoked:
        await execute("slack_list_users", {}, token=alice)
    with pytest.raises(ProviderError) as expired:
        await execute("github_get_authenticated_user", {}, token=carol)
    still_fine = await execute("slack_list_users", {}, token=bob)

    assert revoked.value.details == {"slack_error": "token_revoked", "provider_status": 401}
    assert expired.value.provider_status == 401
    assert _json(still_fine.content)["ok"] is True


@pytest.mark.parametrize(
    ("provider", "tool", "status", "retry_after"),
    [
        ("gmail", "gmail_list_labels", 403, None),
        ("gmail", "gmail_list_labels", 404, None),
        ("gmail", "gmail_list_labels", 429, 7.0),
        ("googlecalendar", "googlecalendar_list_calendars", 503, None),
        ("github", "github_get_authenticated_user", 403, None),
        ("github", "github_get_authenticated_user", 429, 60.0),
        ("slack", "slack_list_users", 429, 30.0),
    ],
)
async def test_provider_failures_become_provider_errors_with_the_status(
    fake_providers: FakeProviders,
    execute: Execute,
    provider: str,
    tool: str,
    status: int,
    retry_after: float | None,
) -> None:
    token = fake_providers.issue_token(provider, "alice")["access_token"]
    fake_providers.fail_next(provider, status, retry_after=retry_after)

    with pytest.raises(ProviderError) as raised:
        await execute(tool, {}, token=token)
    recovered = await execute(tool, {}, token=token)

    assert raised.value.provider_status == status
    assert raised.value.retry_after == retry_after
    assert raised.value.status == 502
    assert token not in raised.value.message
    assert recovered.is_error is False


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("channel_not_found", 404),
        ("missing_scope", 403),
        ("invalid_auth", 401),
        ("ratelimited", 429),
        ("invalid_arguments", 400),
    ],
)
async def test_slack_ok_false_becomes_a_provider_error(
    fake_providers: FakeProviders, execute: Execute, error: str, status: int
) -> None:
    token = fake_providers.issue_token("slack", "alice")["access_token"]
    fake_providers.fail_next("slack", None, error=error)

    with pytest.raises(ProviderError) as raised:
        await execute("slack_list_channels", {}, token=token)

    assert raised.value.provider_status == status
    assert raised.value.details["slack_error"] == error


async def test_a_real_slack_refusal_is_reported_with_its_code(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    token = fake_providers.issue_token("slack", "alice")["access_token"]
    with pytest.raises(ProviderError) as raised:
        await execute("slack_post_message", {"channel": "C404", "text": "hi"}, token=token)
    assert raised.value.message == "Slack refused the call: channel_not_found"
    assert raised.value.provider_status == 404


async def test_a_provider_slower_than_the_timeout_is_a_provider_error(
    fake_providers: FakeProviders, execute: Execute
) -> None:
    token = fake_providers.issue_token("github", "alice")["access_token"]
    fake_providers.delay_next("github", 1.0)

    with pytest.raises(ProviderError) as raised:
        await execute("github_get_authenticated_user", {}, token=token, timeout=0.2)

    assert raised.value.message == "GitHub did not answer within 0.2s"
    assert raised.value.provider_status is None


async def test_demo_add_returns_structured_content(execute: Execute) -> None:
    result = await execute("demo_add", {"a": 2, "b": 3.5}, token=None)
    assert result.structured == {"sum": 5.5}
    assert result.content == [{"type": "text", "text": '{"sum": 5.5}'}]


async def test_demo_echo_and_current_time_run_without_a_credential(execute: Execute) -> None:
    echoed = await execute("demo_echo", {"text": "héllo"}, token=None)
    now = await execute("demo_current_time", {"timezone": "Asia/Tokyo"}, token=None)

    assert echoed.content == [{"type": "text", "text": "héllo"}] and echoed.structured is None
    assert now.structured is not None and now.structured["timezone"] == "Asia/Tokyo"
    parsed = dt.datetime.fromisoformat(now.structured["iso"])
    assert parsed.utcoffset() == dt.timedelta(hours=9)
    with pytest.raises(ValidationFailed):
        await execute("demo_current_time", {"timezone": "Mars/Olympus"}, token=None)


HTTP_TOOLS = [t for c in all_connectors() for t in c.tools if t.request is not None]


@pytest.mark.parametrize("tool", HTTP_TOOLS, ids=[t.name for t in HTTP_TOOLS])
async def test_every_tool_reaches_the_fake_as_the_calling_user(
    fake_providers: FakeProviders, execute: Execute, tool: Tool
) -> None:
    token = fake_providers.issue_token(tool.name.split("_", 1)[0], "alice")["access_token"]
    arguments = minimal_arguments(tool.input_schema)
    Draft202012Validator(tool.input_schema).validate(arguments)

    try:
        await execute(tool.name, arguments, token=token)
    except ProviderError as exc:  # the fake refuses made-up ids like the provider would
        assert exc.provider_status in (400, 404, 422), exc.message

    assert [r.user for r in fake_providers.requests] == ["alice"]


def minimal_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: _sample(schema["properties"][name]) for name in schema.get("required", [])}


def _sample(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return minimal_arguments(schema) if "properties" in schema else {}
    if kind == "array":
        return [_sample(schema["items"])]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2030-01-01T00:00:00Z"
    if schema.get("format") == "email":
        return "ana@example.com"
    return "x"


def _json(content: list[dict[str, Any]]) -> Any:
    return json.loads(content[0]["text"])


def _header(message: dict[str, Any], name: str) -> str:
    return next(h["value"] for h in message["payload"]["headers"] if h["name"] == name)
