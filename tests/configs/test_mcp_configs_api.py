"""Virtual MCP servers over the REST API: create, read, replace, delete, readiness, isolation."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from configs.models import Connection, McpConfig, ToolMapping
from configs.services.mcp_configs import mcp_config_create, mcp_config_update
from configs.signals import config_changed
from configs.tools import config_exposed_tools, config_tool_lookup
from connectors import get_connector
from vault.models import ConnectedAccount

API = "/t/acme/api/v1"
DOCS_TOOLS = [
    {
        "name": "search",
        "description": "Search the docs",
        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
]


def _connections(tenant) -> None:  # noqa: ANN001
    with tenant_context(tenant):
        Connection.objects.create(
            name="gmail", connector="gmail", auth_type="oauth2", settings={"client_id": "c"}
        )
        Connection.objects.create(
            name="slack", connector="slack", auth_type="oauth2", settings={"client_id": "c"}
        )
        Connection.objects.create(name="demo", connector="demo", auth_type="none")
        Connection.objects.create(
            name="docs",
            connector="mcp",
            auth_type="none",
            settings={"server_url": "http://127.0.0.1:9/mcp"},
            tools=DOCS_TOOLS,
        )


@pytest.fixture
def acme_setup(acme):  # noqa: ANN001
    _connections(acme)
    return acme


def _create(api, name: str = "support-agent", mappings=None, **extra):  # noqa: ANN001
    body = {
        "name": name,
        "description": "Answers support mail",
        "connection_tool_mappings": mappings
        if mappings is not None
        else [
            {
                "connection_name": "gmail",
                "tools": ["gmail_fetch_mails", "gmail_send_email"],
                "overrides": {"gmail_send_email": {"name": "send_reply"}},
            },
            {"connection_name": "demo", "tools": ["*"]},
        ],
        **extra,
    }
    return api.post(f"{API}/mcp/configs", body, format="json")


def _events(tenant, event_type: str) -> list[AuditEvent]:  # noqa: ANN001
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


def test_create_returns_the_config_with_its_server_url_and_tool_count(acme_api, acme_setup):
    response = _create(acme_api)

    assert response.status_code == 201, response.content
    body = response.json()
    config_id = body["id"]
    assert set(body) == {
        "id",
        "name",
        "description",
        "connection_tool_mappings",
        "rate_limit_per_minute",
        "tool_count",
        "mcp_server_url",
        "created_at",
        "updated_at",
    }
    assert body["name"] == "support-agent"
    assert body["connection_tool_mappings"] == [
        {
            "connection_name": "gmail",
            "tools": ["gmail_fetch_mails", "gmail_send_email"],
            "overrides": {"gmail_send_email": {"name": "send_reply"}},
            "tool_rate_limits": {},
        },
        {"connection_name": "demo", "tools": ["*"], "overrides": {}, "tool_rate_limits": {}},
    ]
    assert body["tool_count"] == 2 + len(get_connector("demo").tools)
    assert body["mcp_server_url"] == f"{settings.PUBLIC_BASE_URL}/t/acme/mcp/{config_id}"
    assert body["rate_limit_per_minute"] is None

    [event] = _events(acme_setup, "config.created")
    assert str(event.config_id) == config_id
    assert event.actor.startswith("apikey:")
    assert event.extra["tools"] == ["gmail.gmail_fetch_mails", "gmail.gmail_send_email", "demo.*"]

    fetched = acme_api.get(f"{API}/mcp/configs/{config_id}")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_list_pages_with_an_opaque_cursor(acme_api, acme_setup):
    for name in ("c-three", "a-one", "b-two"):
        assert _create(acme_api, name).status_code == 201

    first = acme_api.get(f"{API}/mcp/configs", {"limit": 2}).json()
    assert [c["name"] for c in first["data"]] == ["a-one", "b-two"]
    assert first["next_cursor"]

    second = acme_api.get(f"{API}/mcp/configs", {"limit": 2, "cursor": first["next_cursor"]})
    assert [c["name"] for c in second.json()["data"]] == ["c-three"]
    assert second.json()["next_cursor"] is None

    bad = acme_api.get(f"{API}/mcp/configs", {"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    assert bad.json()["error"]["details"] == {"cursor": "invalid cursor"}


@pytest.mark.parametrize(
    ("mappings", "key", "message"),
    [
        (
            [{"connection_name": "nope", "tools": ["*"]}],
            "connection_tool_mappings[0].connection_name",
            "no connection named 'nope' in this tenant",
        ),
        (
            [
                {"connection_name": "gmail", "tools": ["gmail_send_email"]},
                {"connection_name": "demo", "tools": ["demo_echo"]},
                {"connection_name": "slack", "tools": ["slack_post_message", "x"]},
            ],
            "connection_tool_mappings[2].tools[1]",
            "unknown tool 'x' on connection 'slack'",
        ),
        (
            [{"connection_name": "gmail", "tools": ["gmail_send_email", "*"]}],
            "connection_tool_mappings[0].tools[1]",
            "'*' (all tools) must be the only entry",
        ),
        (
            [
                {"connection_name": "demo", "tools": ["*"]},
                {"connection_name": "demo", "tools": ["demo_echo"]},
            ],
            "connection_tool_mappings[1].connection_name",
            "connection 'demo' is already mapped in connection_tool_mappings[0]",
        ),
        (
            [{"connection_name": "gmail", "tools": []}],
            "connection_tool_mappings[0].tools",
            'a non-empty list of tool names, or ["*"] for all',
        ),
        (
            [
                {
                    "connection_name": "gmail",
                    "tools": ["gmail_send_email"],
                    "overrides": {"gmail_send_email": {"name": "send mail!"}},
                }
            ],
            "connection_tool_mappings[0].overrides.gmail_send_email.name",
            "a tool name of 1–128 characters: letters, digits, '_', '.', '-'",
        ),
        (
            [
                {
                    "connection_name": "gmail",
                    "tools": ["gmail_send_email"],
                    "overrides": {"gmail_fetch_mails": {"name": "fetch"}},
                }
            ],
            "connection_tool_mappings[0].overrides.gmail_fetch_mails",
            "tool 'gmail_fetch_mails' is not exposed by this mapping",
        ),
    ],
)
def test_invalid_mappings_are_refused_naming_the_wrong_entry(
    acme_api, acme_setup, mappings, key, message
):
    response = _create(acme_api, mappings=mappings)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == {key: message}
    with tenant_context(acme_setup):
        assert not McpConfig.objects.exists()


def test_a_clash_of_exposed_names_names_both_tools(acme_api, acme_setup):
    response = _create(
        acme_api,
        mappings=[
            {
                "connection_name": "gmail",
                "tools": ["gmail_send_email"],
                "overrides": {"gmail_send_email": {"name": "send"}},
            },
            {
                "connection_name": "slack",
                "tools": ["slack_post_message"],
                "overrides": {"slack_post_message": {"name": "send"}},
            },
        ],
    )

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert list(details) == ["connection_tool_mappings[1].overrides.slack_post_message.name"]
    [message] = details.values()
    assert "slack.slack_post_message" in message and "gmail.gmail_send_email" in message


def test_more_than_25_mappings_bad_names_and_taken_names_are_refused(acme_api, acme_setup):
    too_many = [{"connection_name": f"c{i}", "tools": ["*"]} for i in range(26)]
    response = _create(acme_api, mappings=too_many)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "connection_tool_mappings": "at most 25 connections per server"
    }

    assert _create(acme_api, name="Bad Name").status_code == 400

    assert _create(acme_api, name="taken").status_code == 201
    again = _create(acme_api, name="taken")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"


def test_overrides_change_what_the_agent_sees_and_lookup_reaches_the_original(in_acme):
    _connections(in_acme)
    config = mcp_config_create(
        name="mailer",
        mappings=[
            {
                "connection_name": "gmail",
                "tools": ["gmail_send_email", "gmail_fetch_mails"],
                "overrides": {
                    "gmail_send_email": {"name": "send_reply", "description": "Reply to a user"}
                },
            }
        ],
        actor="test",
    )

    tools = config_exposed_tools(config)

    catalog = get_connector("gmail").get_tool("gmail_send_email").definition()
    assert [t.exposed_name for t in tools] == ["send_reply", "gmail_fetch_mails"]
    send = tools[0]
    assert send.tool_name == "gmail_send_email"
    assert send.connection.name == "gmail"
    assert send.definition == {**catalog, "name": "send_reply", "description": "Reply to a user"}
    assert send.definition["inputSchema"] == catalog["inputSchema"]
    assert config_tool_lookup(config, "send_reply") == send
    assert config_tool_lookup(config, "gmail_send_email") is None  # hidden behind the override
    assert config_tool_lookup(config, "gmail_delete_message") is None  # default deny


def test_star_includes_tools_the_connection_gains_later(in_acme):
    _connections(in_acme)
    config = mcp_config_create(
        name="docs-reader",
        mappings=[
            {"connection_name": "docs", "tools": ["*"]},
            {"connection_name": "demo", "tools": ["demo_echo"]},
        ],
        actor="test",
    )
    assert [t.exposed_name for t in config_exposed_tools(config)] == ["search", "demo_echo"]

    Connection.objects.filter(name="docs").update(
        tools=[*DOCS_TOOLS, {"name": "fetch", "inputSchema": {"type": "object"}}]
    )

    with CaptureQueriesContext(db) as queries:
        exposed = config_exposed_tools(config)
    assert [t.exposed_name for t in exposed] == ["search", "fetch", "demo_echo"]
    # One query for the mappings and their connections (search_path aside).
    assert len([q for q in queries.captured_queries if "search_path" not in q["sql"]]) == 1


def test_put_replaces_the_mappings_audits_the_change_and_notifies_after_commit(
    acme_api, acme_setup, django_capture_on_commit_callbacks
):
    config_id = _create(acme_api).json()["id"]
    received: list[dict] = []

    def receiver(sender, **kwargs):  # noqa: ANN001, ANN003
        received.append(kwargs)

    config_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = acme_api.put(
                f"{API}/mcp/configs/{config_id}",
                {
                    "description": "Now on Slack",
                    "rate_limit_per_minute": 30,
                    "connection_tool_mappings": [
                        {"connection_name": "gmail", "tools": ["gmail_fetch_mails"]},
                        {"connection_name": "slack", "tools": ["slack_post_message"]},
                    ],
                },
                format="json",
            )
            assert received == []  # nothing is announced before the commit
        for callback in callbacks:
            callback()
    finally:
        config_changed.disconnect(receiver)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "Now on Slack"
    assert body["rate_limit_per_minute"] == 30
    assert body["tool_count"] == 2
    assert [m["connection_name"] for m in body["connection_tool_mappings"]] == ["gmail", "slack"]
    assert received == [
        {"signal": config_changed, "config_id": config_id, "tenant_schema": acme_setup.schema_name}
    ]

    [event] = _events(acme_setup, "config.changed")
    assert event.extra == {
        "name": "support-agent",
        "description": "changed",
        "rate_limit_per_minute": {"from": None, "to": 30},
        "tools_added": ["slack.slack_post_message"],
        "tools_removed": [
            "demo.*",
            "gmail.gmail_send_email",
        ],
        "overrides_changed": ["gmail.gmail_send_email"],
    }


def test_put_cannot_rename_and_an_invalid_put_changes_nothing(acme_api, acme_setup):
    created = _create(acme_api).json()
    url = f"{API}/mcp/configs/{created['id']}"

    rename = acme_api.put(url, {"name": "other", "connection_tool_mappings": []}, format="json")
    assert rename.status_code == 400
    assert rename.json()["error"]["details"] == {
        "name": "cannot be changed; create a new config instead"
    }

    invalid = acme_api.put(
        url,
        {"connection_tool_mappings": [{"connection_name": "gmail", "tools": ["nope"]}]},
        format="json",
    )
    assert invalid.status_code == 400
    assert acme_api.get(url).json() == created


def test_delete_removes_the_config_and_is_audited(acme_api, acme_setup):
    config_id = _create(acme_api).json()["id"]

    assert acme_api.delete(f"{API}/mcp/configs/{config_id}").status_code == 204

    assert acme_api.get(f"{API}/mcp/configs/{config_id}").status_code == 404
    [event] = _events(acme_setup, "config.deleted")
    assert str(event.config_id) == config_id
    with tenant_context(acme_setup):
        assert not ToolMapping.objects.exists()


@pytest.mark.parametrize("path", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_or_malformed_config_ids_are_404(acme_api, acme_setup, path):
    for method in ("get", "delete"):
        response = getattr(acme_api, method)(f"{API}/mcp/configs/{path}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_acme_key_can_neither_read_nor_touch_globex_configs(acme_api, globex_api, globex):
    _connections(globex)
    created = globex_api.post(
        "/t/globex/api/v1/mcp/configs",
        {
            "name": "globex-agent",
            "connection_tool_mappings": [{"connection_name": "demo", "tools": ["*"]}],
        },
        format="json",
    )
    assert created.status_code == 201
    globex_id = created.json()["id"]
    acme_url = f"{API}/mcp/configs/{globex_id}"

    assert acme_api.get(acme_url).status_code == 404
    assert (
        acme_api.put(acme_url, {"connection_tool_mappings": []}, format="json").status_code == 404
    )
    assert acme_api.delete(acme_url).status_code == 404
    assert (
        acme_api.post(
            f"{acme_url}/connected_accounts", {"identifier": "alice"}, format="json"
        ).status_code
        == 404
    )
    assert (
        acme_api.post(f"{acme_url}/tokens", {"identifier": "alice"}, format="json").status_code
        == 404
    )
    assert acme_api.get(f"{acme_url}/tokens").status_code == 404
    assert acme_api.get(f"{API}/mcp/configs").json()["data"] == []
    # Acme's key on globex's own path is not a globex key at all.
    assert acme_api.get(f"/t/globex/api/v1/mcp/configs/{globex_id}").status_code == 401

    assert globex_api.get(f"/t/globex/api/v1/mcp/configs/{globex_id}").json() == created.json()


def test_readiness_reports_each_connection_and_creates_links_on_request(acme_api, acme_setup):
    config_id = _create(acme_api).json()["id"]
    url = f"{API}/mcp/configs/{config_id}/connected_accounts"

    plain = acme_api.post(url, {"identifier": "alice"}, format="json")
    assert plain.status_code == 200
    assert plain.json() == {
        "identifier": "alice",
        "ready": False,
        "connections": [
            {
                "connection_name": "gmail",
                "connector": "gmail",
                "status": "NOT_CONNECTED",
                "connected_account_status": "NOT_CONNECTED",
                "authentication_link": None,
            },
            {
                "connection_name": "demo",
                "connector": "demo",
                "status": "NOT_REQUIRED",
                "connected_account_status": "NOT_REQUIRED",
                "authentication_link": None,
            },
        ],
    }
    with tenant_context(acme_setup):
        assert not ConnectedAccount.objects.exists()

    linked = acme_api.post(url, {"identifier": "alice", "include_auth_link": True}, format="json")
    gmail = linked.json()["connections"][0]
    assert gmail["status"] == "PENDING_AUTH"
    assert gmail["authorization_url"].startswith(
        f"{settings.PUBLIC_BASE_URL}/t/acme/connect/vmcp_cl_"
    )
    assert gmail["expires_at"]
    # Scalekit's names for the same values, beside vmcp's own.
    assert gmail["connected_account_status"] == "PENDING_AUTH"
    assert gmail["authentication_link"] == gmail["authorization_url"]
    with tenant_context(acme_setup):
        account = ConnectedAccount.objects.get(identifier="alice")
        assert account.status == ConnectedAccount.Status.PENDING_AUTH
        ConnectedAccount.objects.filter(pk=account.pk).update(status="ACTIVE")

    ready = acme_api.post(url, {"identifier": "alice", "include_auth_link": True}, format="json")
    assert ready.json()["ready"] is True
    assert ready.json()["connections"][0] == {
        "connection_name": "gmail",
        "connector": "gmail",
        "status": "ACTIVE",
        "connected_account_status": "ACTIVE",
        "authentication_link": None,
    }
    # Bob is another user: alice's account does not make him ready.
    assert acme_api.post(url, {"identifier": "bob"}, format="json").json()["ready"] is False


def test_service_update_with_nothing_changed_records_nothing(in_acme):
    _connections(in_acme)
    mappings = [{"connection_name": "demo", "tools": ["*"]}]
    config = mcp_config_create(name="quiet", mappings=mappings, actor="test")

    mcp_config_update(config=config, mappings=mappings, actor="test")

    assert not AuditEvent.objects.filter(event_type="config.changed").exists()
