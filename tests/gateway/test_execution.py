# ruff: noqa: F811 - pytest fixtures imported from test_execution_support
"""The shared execution path: tool lookup, validation, credentials, provider failures, audit."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync

from audit.models import AuditEvent
from configs.models import Connection
from gateway import ratelimit
from gateway.execution import tool_execute
from tests.gateway.test_execution_support import (  # noqa: F401
    _clean_rate_limits,
    connect_account,
    demo_connection,
    fake_providers,
    fake_providers_server,
    gmail_connection,
    gmail_users,
    run,
    set_limits,
)
from vault.models import ConnectedAccount
from vmcp_platform.errors import ApplicationError, NotFound, ServiceUnavailable, ValidationFailed


def _events(event_type: str | None = None) -> list[AuditEvent]:
    events = AuditEvent.objects.order_by("id")
    if event_type:
        events = events.filter(event_type=event_type)
    return list(events)


# ------------------------------------------------------------------ success paths


def test_demo_tool_runs_and_is_audited_without_arguments(acme, demo_connection):
    executed = run(
        acme,
        connection_name="demo",
        tool_name="demo_echo",
        identifier="alice",
        arguments={"text": "hello"},
        request_id="req-1",
        agent_run_id="run-1",
    )
    assert executed.result.is_error is False
    assert executed.result.content == [{"type": "text", "text": "hello"}]
    assert executed.error is None
    (event,) = _events("tool.called")
    assert event.outcome == "ok"
    assert event.error_code == ""
    assert event.tool_name == "demo_echo"
    assert event.connection_name == "demo"
    assert event.identifier == "alice"
    assert event.actor == "tests"
    assert event.request_id == "req-1"
    assert event.agent_run_id == "run-1"
    assert event.latency_ms is not None and event.latency_ms >= 0
    # The provider's share of the latency, for the overview's vmcp-vs-provider split.
    assert 0 <= event.extra.pop("provider_ms") <= event.latency_ms
    assert event.extra == {"execution_id": executed.execution_id}


def test_structured_output_is_returned_for_tools_with_an_output_schema(acme, demo_connection):
    executed = run(
        acme,
        connection_name="demo",
        tool_name="demo_add",
        identifier="a",
        arguments={"a": 2, "b": 3.5},
    )
    assert executed.result.structured == {"sum": 5.5}
    assert json.loads(executed.result.content[0]["text"]) == {"sum": 5.5}


def test_each_user_calls_the_provider_with_their_own_token(acme, gmail_users, fake_providers):
    for user in ("alice", "bob", "alice"):
        executed = run(
            acme, connection_name="gmail", tool_name="gmail_get_profile", identifier=user
        )
        assert executed.result.is_error is False
        assert executed.result.structured["emailAddress"].startswith(user)
    assert [r.user for r in fake_providers.requests] == ["alice", "bob", "alice"]
    assert [r.path for r in fake_providers.requests] == ["/gmail/v1/users/me/profile"] * 3
    # The audit trail never holds a credential.
    dumped = json.dumps([list(AuditEvent.objects.values())], default=str)
    for tokens in gmail_users.values():
        assert tokens["access_token"] not in dumped
        assert tokens["refresh_token"] not in dumped
    assert [e.account_id is not None for e in _events("tool.called")] == [True] * 3


def test_tool_arguments_are_stored_sanitized_only_when_the_tenant_asks(acme, demo_connection):
    secretish = "ghp_" + "A" * 36
    run(
        acme,
        connection_name="demo",
        tool_name="demo_echo",
        identifier="a",
        arguments={"text": secretish},
    )
    set_limits(acme, store_tool_arguments=True)
    run(
        acme,
        connection_name="demo",
        tool_name="demo_echo",
        identifier="a",
        arguments={"text": f"my {secretish}"},
    )
    first, second = _events("tool.called")
    assert "arguments" not in first.extra
    assert second.extra["arguments"] == {"text": "my ghp_[REDACTED]"}
    assert secretish not in json.dumps([first.extra, second.extra])


# ------------------------------------------------------------------ refusals (raised)


def test_unknown_tool_is_refused_audited_and_never_reaches_the_provider(
    acme, gmail_users, fake_providers
):
    with pytest.raises(NotFound) as caught:
        run(acme, connection_name="gmail", tool_name="gmail_launch_rockets", identifier="alice")
    assert caught.value.code == "unknown_tool"
    assert caught.value.status == 404
    assert "gmail_launch_rockets" in caught.value.message
    assert fake_providers.requests == []
    (event,) = _events()
    assert (event.event_type, event.outcome, event.error_code) == (
        "tool.denied",
        "denied",
        "unknown_tool",
    )


def test_unknown_connection_is_not_found(acme, in_acme):
    with pytest.raises(NotFound) as caught:
        run(acme, connection_name="nope", tool_name="demo_echo", identifier="alice")
    assert caught.value.code == "not_found"
    (event,) = _events()
    assert (event.event_type, event.error_code) == ("tool.denied", "unknown_connection")


def test_invalid_arguments_name_the_field_but_never_echo_the_value(acme, demo_connection):
    with pytest.raises(ValidationFailed) as caught:
        run(
            acme,
            connection_name="demo",
            tool_name="demo_add",
            identifier="a",
            arguments={"a": "hunter2-secret", "b": 1},
        )
    assert (
        caught.value.message
        == "Invalid arguments for tool 'demo_add': 'a' must be of type \"number\"."
    )
    assert "hunter2" not in json.dumps(caught.value.as_dict())
    assert caught.value.details["errors"][0] == {
        "field": "a",
        "problem": 'must be of type "number"',
        "keyword": "type",
    }
    with pytest.raises(ValidationFailed) as missing:
        run(acme, connection_name="demo", tool_name="demo_echo", identifier="a", arguments={})
    assert missing.value.message == "Invalid arguments for tool 'demo_echo': 'text' is required."
    events = _events()
    assert [(e.event_type, e.error_code) for e in events] == [
        ("tool.denied", "validation_error"),
        ("tool.denied", "validation_error"),
    ]
    assert "hunter2" not in json.dumps([e.extra for e in events])


def test_nested_field_paths_are_named(acme, gmail_users, fake_providers):
    with pytest.raises(ValidationFailed) as caught:
        run(
            acme,
            connection_name="gmail",
            tool_name="gmail_send_email",
            identifier="alice",
            arguments={"to": ["ana@example.com", 7], "subject": "s", "body": "b"},
        )
    assert "'to[1]' must be of type" in caught.value.message
    assert fake_providers.requests == []


def test_user_without_an_active_account_is_refused(acme, gmail_users, gmail_connection):
    with pytest.raises(ApplicationError) as caught:
        run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="mallory")
    assert (caught.value.code, caught.value.status) == ("no_active_account", 409)
    ConnectedAccount.objects.filter(identifier="bob").update(status=ConnectedAccount.Status.REVOKED)
    with pytest.raises(ApplicationError) as revoked:
        run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="bob")
    assert revoked.value.code == "no_active_account"
    assert [(e.event_type, e.outcome, e.error_code) for e in _events()] == [
        ("tool.denied", "denied", "no_active_account"),
        ("tool.denied", "denied", "no_active_account"),
    ]


def test_another_tenants_connection_does_not_exist(acme, globex):
    from django_tenants.utils import tenant_context

    with tenant_context(globex):
        Connection.objects.create(name="globex-demo", connector="demo", auth_type="none")
    with tenant_context(acme), pytest.raises(NotFound):
        run(
            acme,
            connection_name="globex-demo",
            tool_name="demo_echo",
            identifier="a",
            arguments={"text": "x"},
        )
    with tenant_context(globex):
        assert AuditEvent.objects.count() == 0


# ------------------------------------------------------------------ provider failures (isError)


def test_provider_401_marks_the_account_expired_and_says_to_reconnect(
    acme, gmail_users, fake_providers
):
    fake_providers.revoke_user("gmail", "alice")
    executed = run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="alice")
    assert executed.result.is_error is True
    assert executed.error_code == "account_expired"
    assert "must reconnect" in executed.result.content[0]["text"]
    assert executed.error.details["provider_status"] == 401
    alice = ConnectedAccount.objects.get(identifier="alice")
    assert alice.status == ConnectedAccount.Status.EXPIRED
    # bob is untouched and keeps working; alice's next call is refused before the provider.
    assert (
        run(
            acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="bob"
        ).result.is_error
        is False
    )
    calls_before = len(fake_providers.requests)
    with pytest.raises(ApplicationError) as caught:
        run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="alice")
    assert caught.value.code == "account_expired"
    assert len(fake_providers.requests) == calls_before
    called = _events("tool.called")
    assert [(e.identifier, e.outcome, e.error_code) for e in called] == [
        ("alice", "error", "account_expired"),
        ("bob", "ok", ""),
    ]


def test_provider_429_surfaces_retry_after(acme, gmail_users, fake_providers):
    fake_providers.fail_next("gmail", 429, retry_after=7)
    executed = run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="alice")
    assert executed.result.is_error is True
    assert executed.error_code == "provider_rate_limited"
    assert executed.error.retry_after == 7
    assert executed.result.content[0]["text"] == (
        "The provider is rate limiting these calls. Retry after 7 seconds."
    )
    assert ConnectedAccount.objects.get(identifier="alice").status == "ACTIVE"


@pytest.mark.parametrize(
    ("status", "code", "phrase"),
    [
        (403, "provider_forbidden", "refused access"),
        (404, "provider_not_found", "Not found at the provider"),
        (500, "provider_error", "The provider call failed"),
    ],
)
def test_provider_failures_become_error_results(
    acme, gmail_users, fake_providers, status, code, phrase
):
    fake_providers.fail_next("gmail", status)
    executed = run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="bob")
    assert executed.result.is_error is True
    assert executed.error_code == code
    assert phrase in executed.result.content[0]["text"]
    (event,) = _events("tool.called")
    assert (event.outcome, event.error_code) == ("error", code)
    assert event.extra["provider_status"] == status


def test_provider_timeout_is_an_error_result(acme, gmail_users, fake_providers, settings):
    settings.VMCP_TOOL_TIMEOUT_SECONDS = 0.3
    fake_providers.delay_next("gmail", 2)
    executed = run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier="bob")
    assert executed.result.is_error is True
    assert executed.error_code == "provider_timeout"
    assert "did not answer" in executed.result.content[0]["text"]


def test_a_local_tool_refusing_its_input_is_an_error_result(acme, demo_connection):
    executed = run(
        acme,
        connection_name="demo",
        tool_name="demo_current_time",
        identifier="a",
        arguments={"timezone": "Mars/Olympus"},
    )
    assert executed.result.is_error is True
    assert executed.error_code == "validation_error"
    assert executed.error.status == 400


# ------------------------------------------------------------------ rate limits, fail closed


def test_burst_over_the_tenant_limit_lets_exactly_the_limit_through(acme, demo_connection):
    set_limits(acme, rate_limit_per_minute=5)

    async def burst() -> list:
        return await asyncio.gather(
            *[
                tool_execute(
                    tenant=acme,
                    connection_name="demo",
                    tool_name="demo_echo",
                    identifier="alice",
                    arguments={"text": str(i)},
                    actor="tests",
                )
                for i in range(8)
            ],
            return_exceptions=True,
        )

    outcomes = async_to_sync(burst)()
    ok = [o for o in outcomes if not isinstance(o, Exception)]
    limited = [o for o in outcomes if isinstance(o, ApplicationError)]
    assert (len(ok), len(limited)) == (5, 3)
    assert {e.code for e in limited} == {"rate_limited"}
    assert all(e.retry_after > 0 for e in limited)
    assert len(_events("tool.called")) == 5
    denied = _events("tool.denied")
    assert [(e.error_code, e.extra["scope"]) for e in denied] == [("rate_limited", "tenant")] * 3


def test_per_user_limit_of_a_config_applies_per_identifier(acme, demo_connection):
    from configs.models import McpConfig

    set_limits(acme, user_rate_limit_per_minute=2)
    config = McpConfig.objects.create(name="support")

    def call(identifier: str):
        return run(
            acme,
            connection_name="demo",
            tool_name="demo_echo",
            identifier=identifier,
            arguments={"text": "x"},
            config_id=config.pk,
        )

    call("alice")
    call("alice")
    with pytest.raises(ApplicationError) as caught:
        call("alice")
    assert caught.value.code == "rate_limited"
    assert caught.value.details["scope"] == "user"
    call("bob")  # bob has his own allowance
    McpConfig.objects.filter(pk=config.pk).update(rate_limit_per_minute=10)
    call("carol")  # the config's own limit replaces the tenant's per-user default


def test_redis_down_refuses_calls_and_executes_none(acme, gmail_users, fake_providers, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    ratelimit.reset_pool()
    for user in ("alice", "bob"):
        with pytest.raises(ServiceUnavailable) as caught:
            run(acme, connection_name="gmail", tool_name="gmail_get_profile", identifier=user)
        assert caught.value.status == 503
    assert fake_providers.requests == []
    assert [(e.event_type, e.error_code) for e in _events()] == [
        ("tool.denied", "service_unavailable"),
        ("tool.denied", "service_unavailable"),
    ]


def test_nul_characters_never_break_the_audit_write(acme, demo_connection):
    set_limits(acme, store_tool_arguments=True)
    executed = run(
        acme,
        connection_name="demo",
        tool_name="demo_echo",
        identifier="a",
        arguments={"text": "a\x00b"},
    )
    assert executed.result.content[0]["text"] == "a\x00b"
    with pytest.raises(NotFound):
        run(acme, connection_name="demo", tool_name="demo\x00echo", identifier="a")
    called, denied = _events()
    assert called.extra["arguments"] == {"text": "ab"}
    assert denied.tool_name == "demoecho"
