# ruff: noqa: F811 - pytest fixtures imported from test_execution_support
"""REST ``POST execute_tool``: success, each error in the API shape, cross-tenant refusals."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from configs.models import Connection
from gateway import ratelimit
from tests.gateway.test_execution_support import (  # noqa: F401
    _clean_rate_limits,
    connect_account,
    demo_connection,
    fake_providers,
    fake_providers_server,
    gmail_connection,
    gmail_users,
    set_limits,
)
from vault.models import ConnectedAccount

URL = "/t/acme/api/v1/execute_tool"


def _in_acme(acme, query):  # noqa: ANN001, ANN202
    # A request resets the connection to the public schema when it ends; select acme again.
    with tenant_context(acme):
        return query()


def _error(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    return body["error"]


def test_execute_tool_runs_the_demo_connector(acme, acme_api, demo_connection):
    response = acme_api.post(
        URL,
        {
            "tool_name": "demo_add",
            "identifier": "alice",
            "params": {"a": 1, "b": 2},
            "agent_run_id": "run-7",
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"sum": 3}
    assert body["is_error"] is False
    assert body["content"] == [{"type": "text", "text": '{"sum": 3}'}]
    event = _in_acme(acme, lambda: AuditEvent.objects.get(event_type="tool.called"))
    assert event.extra["execution_id"] == body["execution_id"]
    assert event.agent_run_id == "run-7"
    assert event.actor.startswith("apikey:")


def test_text_results_come_back_as_text_or_parsed_json(acme_api, demo_connection):
    response = acme_api.post(
        URL,
        {"tool_name": "demo_echo", "identifier": "a", "params": {"text": "hi"}},
        format="json",
    )
    assert response.json()["data"] == "hi"
    response = acme_api.post(
        URL,
        {"tool_name": "demo_echo", "identifier": "a", "params": {"text": '{"x": [1]}'}},
        format="json",
    )
    assert response.json()["data"] == {"x": [1]}


def test_execute_tool_uses_each_users_own_credential(acme_api, gmail_users, fake_providers):
    for user in ("bob", "alice"):
        response = acme_api.post(
            URL,
            {"tool_name": "gmail_get_profile", "identifier": user, "connection_name": "gmail"},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json()["data"]["emailAddress"].startswith(user)
    assert [r.user for r in fake_providers.requests] == ["bob", "alice"]


def test_unknown_tool_is_404(acme_api, demo_connection):
    error = _error(
        acme_api.post(URL, {"tool_name": "demo_nope", "identifier": "a"}, format="json"),
        404,
        "unknown_tool",
    )
    assert "demo_nope" in error["message"]
    error = _error(
        acme_api.post(
            URL,
            {"tool_name": "demo_nope", "identifier": "a", "connection_name": "demo"},
            format="json",
        ),
        404,
        "unknown_tool",
    )


def test_invalid_params_are_400_naming_the_field(acme_api, demo_connection):
    error = _error(
        acme_api.post(
            URL,
            {"tool_name": "demo_add", "identifier": "a", "params": {"a": 1, "b": "s3cr3t"}},
            format="json",
        ),
        400,
        "validation_error",
    )
    assert "'b'" in error["message"]
    assert "s3cr3t" not in str(error)


def test_malformed_request_is_400(acme_api, demo_connection):
    error = _error(
        acme_api.post(URL, {"identifier": "a", "params": []}, format="json"),
        400,
        "validation_error",
    )
    assert set(error["details"]) == {"tool_name", "params"}


def test_ambiguous_tool_name_lists_the_candidates(acme_api, demo_connection):
    Connection.objects.create(name="demo-two", connector="demo", auth_type="none")
    error = _error(
        acme_api.post(
            URL,
            {"tool_name": "demo_echo", "identifier": "a", "params": {"text": "x"}},
            format="json",
        ),
        400,
        "ambiguous_tool",
    )
    assert error["details"]["candidates"] == ["demo", "demo-two"]


def test_no_active_account_is_409(acme_api, gmail_users):
    error = _error(
        acme_api.post(
            URL, {"tool_name": "gmail_get_profile", "identifier": "mallory"}, format="json"
        ),
        409,
        "no_active_account",
    )
    assert error["details"]["connection_name"] == "gmail"


def test_provider_failure_is_502_with_provider_status(acme, acme_api, gmail_users, fake_providers):
    fake_providers.fail_next("gmail", 429, retry_after=12)
    response = acme_api.post(
        URL, {"tool_name": "gmail_get_profile", "identifier": "alice"}, format="json"
    )
    error = _error(response, 502, "provider_error")
    assert error["details"]["provider_status"] == 429
    assert error["details"]["retry_after"] == 12
    assert error["details"]["reason"] == "provider_rate_limited"
    assert response["Retry-After"] == "12"
    event = _in_acme(acme, lambda: AuditEvent.objects.get(event_type="tool.called"))
    assert error["details"]["execution_id"] == event.extra["execution_id"]


def test_provider_401_is_502_and_expires_the_account(acme, acme_api, gmail_users, fake_providers):
    fake_providers.revoke_user("gmail", "bob")
    error = _error(
        acme_api.post(URL, {"tool_name": "gmail_get_profile", "identifier": "bob"}, format="json"),
        502,
        "provider_error",
    )
    assert error["details"]["provider_status"] == 401
    assert "reconnect" in error["message"]
    bob = _in_acme(acme, lambda: ConnectedAccount.objects.get(identifier="bob"))
    assert bob.status == "EXPIRED"
    assert gmail_users["bob"]["access_token"] not in str(error)


def test_rate_limited_is_429_with_retry_after(acme_api, demo_connection, acme):
    set_limits(acme, rate_limit_per_minute=1)
    body = {"tool_name": "demo_echo", "identifier": "a", "params": {"text": "x"}}
    assert acme_api.post(URL, body, format="json").status_code == 200
    response = acme_api.post(URL, body, format="json")
    error = _error(response, 429, "rate_limited")
    assert 0 < error["details"]["retry_after"] <= 60
    assert 1 <= int(response["Retry-After"]) <= 60


def test_redis_down_is_503_and_nothing_runs(acme_api, gmail_users, fake_providers, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    ratelimit.reset_pool()
    _error(
        acme_api.post(
            URL, {"tool_name": "gmail_get_profile", "identifier": "alice"}, format="json"
        ),
        503,
        "service_unavailable",
    )
    assert fake_providers.requests == []


def test_acme_key_cannot_execute_against_globex_connections(acme_api, globex, globex_api):
    with tenant_context(globex):
        Connection.objects.create(name="globex-demo", connector="demo", auth_type="none")
    body = {
        "tool_name": "demo_echo",
        "identifier": "a",
        "params": {"text": "x"},
        "connection_name": "globex-demo",
    }
    # acme's own tenant has no such connection: 404, not 403.
    _error(acme_api.post(URL, body, format="json"), 404, "not_found")
    _error(
        acme_api.post(URL, {**body, "connection_name": None}, format="json"),
        400,
        "validation_error",
    )
    _error(
        acme_api.post(
            URL, {k: v for k, v in body.items() if k != "connection_name"}, format="json"
        ),
        404,
        "unknown_tool",
    )
    # acme's key on globex's URL is not a globex credential.
    _error(
        acme_api.post("/t/globex/api/v1/execute_tool", body, format="json"), 401, "unauthenticated"
    )
    with tenant_context(globex):
        assert AuditEvent.objects.filter(event_type__startswith="tool.").count() == 0
    # globex's own key works on its own connection.
    assert (
        globex_api.post("/t/globex/api/v1/execute_tool", body, format="json").json()["data"] == "x"
    )


def test_a_call_without_an_api_key_is_401(acme, demo_connection):
    from rest_framework.test import APIClient

    _error(
        APIClient().post(URL, {"tool_name": "demo_echo", "identifier": "a"}, format="json"),
        401,
        "unauthenticated",
    )


def test_execute_tool_over_the_real_asgi_server(live_tenant, live_server_url, django_db_blocker):
    """The sync view inside daphne runs the async path and its ORM work on the right thread."""
    import httpx

    from tenants.services import api_key_create

    with django_db_blocker.unblock():
        secret = api_key_create(tenant=live_tenant, name="live").secret
        with tenant_context(live_tenant):
            Connection.objects.create(name="demo", connector="demo", auth_type="none")
    url = f"{live_server_url}/t/{live_tenant.slug}/api/v1/execute_tool"
    headers = {"Authorization": f"Bearer {secret}"}
    bodies = [
        {"tool_name": "demo_add", "identifier": "a", "params": {"a": i, "b": 1}} for i in range(3)
    ]
    with httpx.Client(timeout=20) as client:
        answers = [client.post(url, json=body, headers=headers) for body in bodies]
        invalid = client.post(url, json={**bodies[0], "params": {"a": 1}}, headers=headers)
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["data"] for a in answers] == [{"sum": 1}, {"sum": 2}, {"sum": 3}]
    assert invalid.status_code == 400
    assert invalid.json()["error"]["code"] == "validation_error"
    with django_db_blocker.unblock(), tenant_context(live_tenant):
        events = list(AuditEvent.objects.filter(event_type__startswith="tool.").order_by("id"))
    assert [(e.event_type, e.outcome) for e in events] == [("tool.called", "ok")] * 3 + [
        ("tool.denied", "denied")
    ]
