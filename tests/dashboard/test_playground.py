"""A server's playground: an admin checks an end user's readiness, sends connect links, mints a
short test token, sees the tools as the agent will, and runs one, audited as themselves."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape

from django.utils import timezone
from django_tenants.utils import tenant_context

from dashboard.playground import ToolArgumentsForm
from tests.dashboard.conftest import client_for

BASE = "/t/acme/dashboard"


def _url(server) -> str:  # noqa: ANN001
    return f"{BASE}/servers/{server.pk}/playground/"


def _events(acme, **filters):  # noqa: ANN001, ANN202
    from audit.models import AuditEvent

    with tenant_context(acme):
        return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_readiness_shows_what_is_missing_and_makes_connect_links(furnished, acme):
    url = _url(furnished.server)
    html = client_for("bob").get(url, {"identifier": "dave@acme.test"}).content.decode()
    assert re.search(r'id="ready-badge">not ready<', html)
    assert "PENDING_AUTH" in html
    assert 'disabled title="Not ready' in html  # no token for someone who cannot call
    made = client_for("bob").post(url, {"identifier": "dave@acme.test", "action": "links"})
    link = re.search(r'id="link-gmail" value="([^"]+)"', made.content.decode())[1]
    assert "/t/acme/connect/" in link
    (event,) = _events(acme, event_type="connect_link.created")
    assert event.actor == "user:bob@acme.test" and event.identifier == "dave@acme.test"


def test_a_test_token_lasts_five_minutes_and_is_minted_as_the_dashboard_user(furnished, acme):
    from configs.models import SessionToken

    html = (
        client_for("bob")
        .post(_url(furnished.demo_server), {"identifier": "erin@acme.test", "action": "mint"})
        .content.decode()
    )
    secret = re.search(r'id="minted-token" value="(vmcp_st_[^"]+)"', html)[1]
    assert f"/t/acme/mcp/{furnished.demo_server.pk}" in html
    with tenant_context(acme):
        token = SessionToken.objects.get(identifier="erin@acme.test")
    assert secret.startswith(token.prefix)
    lifetime = token.expires_at - timezone.now()
    assert timedelta(minutes=4) < lifetime <= timedelta(minutes=5)
    (event,) = _events(acme, event_type="token.minted", identifier="erin@acme.test")
    assert event.actor == "user:bob@acme.test"


def test_minting_for_someone_not_ready_says_why_and_mints_nothing(furnished, acme):
    from configs.models import SessionToken

    response = client_for("bob").post(
        _url(furnished.server), {"identifier": "dave@acme.test", "action": "mint"}
    )
    assert response.status_code == 409
    assert 'id="playground-error"' in response.content.decode()
    with tenant_context(acme):
        assert not SessionToken.objects.filter(config=furnished.server).exists()


def test_the_tools_are_listed_as_the_agent_sees_them(furnished):
    html = (
        client_for("alice")
        .get(_url(furnished.server), {"identifier": "dave@acme.test"})
        .content.decode()
    )
    listed = re.findall(r'id="pg-tool-([^"]+)"', html)
    assert listed == ["gmail_fetch_mails", "gmail_get_message"]
    assert "&quot;inputSchema&quot;" in html


def test_running_a_tool_uses_a_form_from_its_schema_and_is_audited_as_the_admin(furnished, acme):
    url = _url(furnished.demo_server)
    form = client_for("bob").get(url, {"identifier": "erin@acme.test", "tool": "demo_add"})
    html = form.content.decode()
    assert 'name="arg_a"' in html and 'type="number"' in html and 'name="arg_b"' in html
    ran = (
        client_for("bob")
        .post(
            url,
            {
                "identifier": "erin@acme.test",
                "tool": "demo_add",
                "action": "run",
                "arg_a": "2",
                "arg_b": "3.5",
            },
        )
        .content.decode()
    )
    assert re.search(r'id="run-output">[^<]*5\.5', ran)
    assert '<span class="badge ok">ok</span>' in ran
    (event,) = _events(acme, event_type="tool.called", tool_name="demo_add")
    assert (event.actor, event.identifier, event.config_id, event.outcome) == (
        "user:bob@acme.test",
        "erin@acme.test",
        furnished.demo_server.pk,
        "ok",
    )
    assert event.agent_run_id == "dashboard-playground"


def test_a_missing_required_argument_stays_on_the_form_and_runs_nothing(furnished, acme):
    response = client_for("bob").post(
        _url(furnished.demo_server),
        {"identifier": "erin@acme.test", "tool": "demo_echo", "action": "run"},
    )
    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    assert not _events(acme, tool_name="demo_echo", identifier="erin@acme.test")


def test_a_refused_call_is_shown_as_the_agent_would_see_it(furnished, acme):
    # gmail for dave: no active account, so the gateway refuses before any provider call.
    html = (
        client_for("bob")
        .post(
            _url(furnished.server),
            {
                "identifier": "dave@acme.test",
                "tool": "gmail_get_message",
                "action": "run",
                "arg_id": "m1",
            },
        )
        .content.decode()
    )
    assert '<span class="badge warn">denied</span>' in html
    (event,) = _events(acme, event_type="tool.denied", identifier="dave@acme.test")
    assert event.actor == "user:bob@acme.test"
    assert escape(event.extra["error_message"]) in html  # what the agent would have read


def test_the_playground_is_for_owners_and_admins_of_this_tenant_only(furnished):
    url = _url(furnished.demo_server)
    assert client_for("audrey").get(url).status_code == 404
    assert client_for("carol").get(url).status_code == 404
    page = client_for("audrey").get(f"{BASE}/servers/{furnished.demo_server.pk}/").content.decode()
    assert "/playground/" not in page


def test_the_schema_form_turns_values_back_into_arguments():
    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "n": {"type": "integer", "minimum": 1},
            "unread": {"type": "boolean"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "meta": {"type": "object"},
        },
        "required": ["q"],
    }
    form = ToolArgumentsForm(
        schema,
        {
            "arg_q": "hello",
            "arg_n": "3",
            "arg_unread": "on",
            "arg_labels": "x\ny\n",
            "arg_ids": "1\n2",
            "arg_mode": "b",
            "arg_meta": '{"k": 1}',
        },
    )
    assert form.is_valid(), form.errors
    assert form.arguments() == {
        "q": "hello",
        "n": 3,
        "unread": True,
        "labels": ["x", "y"],
        "ids": [1, 2],
        "mode": "b",
        "meta": {"k": 1},
    }
    empty = ToolArgumentsForm(schema, {"arg_q": "x"})
    assert empty.is_valid() and empty.arguments() == {"q": "x"}
    assert not ToolArgumentsForm(schema, {"arg_n": "0"}).is_valid()
