"""The rough edges a new admin hit in issue #17, each pinned: labels, the connection page, the
connected-accounts page, audit detail and filter, snippets' example arguments, the catalog."""

from __future__ import annotations

import re

from django_tenants.utils import tenant_context

from configs.models import Connection
from dashboard.examples import example_arguments, python_literal
from tests.conftest import PERSONAS
from tests.dashboard.conftest import client_for

BASE = "/t/acme/dashboard"


def test_auth_types_read_as_people_write_them(furnished):
    html = client_for("alice").get(f"{BASE}/connections/gmail/").content.decode()
    assert re.search(r'id="auth-type">OAuth 2.0<', html)
    assert "Oauth2" not in client_for("alice").get(f"{BASE}/connections/new/").content.decode()
    assert (
        ">OAuth 2.0</option>"
        in client_for("alice").get(f"{BASE}/connections/new/").content.decode()
    )


def test_the_login_error_speaks_of_the_e_mail(client, acme):
    html = client.post(
        "/login/", {"username": PERSONAS["alice"].email, "password": "wrong"}
    ).content.decode()
    assert "e-mail" in html
    assert "username" not in html.split("<form", 1)[1].split("</div>", 1)[0]


def test_a_url_the_admin_set_is_not_called_overridden_unless_it_replaced_a_default(acme):

    with tenant_context(acme):
        # Created as a synced upstream would be (its URL is never dialled by this page).
        Connection.objects.create(
            name="crm",
            connector="mcp",
            auth_type="none",
            settings={"server_url": "https://crm.example.com/mcp"},
        )
        Connection.objects.create(
            name="gmail2",
            connector="gmail",
            auth_type="oauth2",
            settings={"client_id": "c", "token_url": "https://tokens.example.com/token"},
        )
    crm = client_for("alice").get(f"{BASE}/connections/crm/").content.decode()
    assert "https://crm.example.com/mcp" in crm and "overridden" not in crm
    # An upstream without credentials sends no header at all: none is shown.
    assert 'id="header-name"' not in crm
    gmail = client_for("alice").get(f"{BASE}/connections/gmail2/").content.decode()
    token_row = re.search(r'id="url-token_url">(.*?)</dd>', gmail, re.S)[1]
    assert "overridden" in token_row
    assert "overridden" not in re.search(r'id="url-authorize_url">(.*?)</dd>', gmail, re.S)[1]


def test_recent_errors_say_just_now_rather_than_zero_minutes(furnished):
    html = client_for("alice").get(f"{BASE}/").content.decode()
    assert "just now" in html and "0 minutes ago" not in html


def test_accounts_page_shows_the_tenants_api_path_and_what_to_click(furnished, acme):
    with tenant_context(acme):
        furnished.account.delete()
    html = client_for("alice").get(f"{BASE}/accounts/").content.decode()
    assert "POST /t/acme/api/v1/connected_accounts/magic_link" in html
    assert f'href="{BASE}/accounts/link/"' in html


def test_without_per_user_connections_the_link_form_explains_instead_of_an_empty_select(acme):
    from configs.services.connections import connection_create

    with tenant_context(acme):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
    html = client_for("alice").get(f"{BASE}/accounts/link/").content.decode()
    assert 'id="no-link-connections"' in html and "<select" not in html.split("<main>")[1]
    empty = client_for("alice").get(f"{BASE}/accounts/").content.decode()
    assert "needs a per-user account" in empty and "create one below" not in empty


def test_the_link_form_is_prefilled_from_the_query(furnished):
    html = (
        client_for("alice")
        .get(f"{BASE}/accounts/link/?connection=gmail&identifier=erin@acme.test")
        .content.decode()
    )
    assert 'value="erin@acme.test"' in html
    assert re.search(r'<option value="gmail"[^>]*selected', html)


def test_audit_detail_names_the_server_and_token_and_shows_the_agents_error(furnished, acme):
    from audit.services import audit_record

    with tenant_context(acme):
        event = audit_record(
            event_type="tool.denied",
            outcome="denied",
            error_code="rate_limited",
            identifier="dave@acme.test",
            tool_name="demo_echo",
            config_id=furnished.demo_server.pk,
            session_token_id=furnished.token.pk,
            extra={"error_message": "Rate limit reached for this user: retry in a minute."},
        )
        quiet = audit_record(event_type="settings.changed", actor="user:alice@acme.test")
    html = client_for("audrey").get(f"{BASE}/audit/{event.pk}/").content.decode()
    server = re.search(r'id="event-server">(.*?)</dd>', html, re.S)[1]
    assert re.sub(r"<[^>]+>", "", server) == "demo-server"
    token = re.search(r'id="event-token">(.*?)</dd>', html, re.S)[1]
    assert f"{furnished.token.prefix}…" in token and str(furnished.token.pk) not in token
    assert str(furnished.demo_server.pk) not in re.sub(r'href="[^"]*"', "", html)
    assert (
        "Rate limit reached for this user"
        in re.search(r'id="event-error"[^>]*>(.*?)</dd>', html)[1]
    )
    empty = client_for("audrey").get(f"{BASE}/audit/{quiet.pk}/").content.decode()
    assert "Nothing more was recorded" in empty and "{}" not in empty


def test_audit_filter_picks_a_server_by_name(furnished):
    client = client_for("alice")
    html = client.get(f"{BASE}/audit/").content.decode()
    assert f'<option value="{furnished.demo_server.pk}">demo-server</option>' in html
    rows = client.get(f"{BASE}/audit/?server={furnished.demo_server.pk}").content.decode()
    assert rows.count("demo_echo") >= 1
    other = client.get(f"{BASE}/audit/?server={furnished.server.pk}").content.decode()
    assert "demo_echo" not in other.split('id="audit-results"')[1]


def test_example_arguments_fill_what_the_schema_requires():
    schema = {
        "type": "object",
        "properties": {
            "to": {"type": "string"},
            "count": {"type": "integer", "minimum": 5},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "labels": {"type": "array", "items": {"type": "string"}},
            "dry_run": {"type": "boolean"},
            "optional": {"type": "string"},
        },
        "required": ["to", "count", "kind", "labels", "dry_run"],
    }
    assert example_arguments(schema) == {
        "to": "user@example.com",
        "count": 5,
        "kind": "a",
        "labels": ["labels"],
        "dry_run": False,
    }
    assert python_literal({"a": True, "b": None, "c": [1]}) == '{"a": True, "b": None, "c": [1]}'
    assert example_arguments({"type": "object", "properties": {}}) == {}


def test_the_servers_snippet_calls_its_tool_with_required_arguments(acme):
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create

    with tenant_context(acme):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        server = mcp_config_create(
            name="echoer", mappings=[{"connection_name": "demo", "tools": ["demo_echo"]}], actor="t"
        )
    html = client_for("alice").get(f"{BASE}/servers/{server.pk}/").content.decode()
    assert "call_tool(&quot;demo_echo&quot;, {&quot;text&quot;: &quot;text&quot;})" in html


def test_the_catalog_adds_a_connection_and_lists_the_upstream_mcp_connector(furnished):
    html = client_for("bob").get(f"{BASE}/connectors/").content.decode()
    assert f'href="{BASE}/connections/new/?connector=gmail"' in html
    assert 'id="connector-mcp"' in html
    assert f'href="{BASE}/connections/new/?connector=mcp"' in html
    form = client_for("bob").get(f"{BASE}/connections/new/?connector=mcp").content.decode()
    assert re.search(r'<option value="none"[^>]*selected', form)
    assert (
        'id="connector-mcp"'
        in client_for("bob").get(f"{BASE}/connectors/?q=upstream").content.decode()
    )
    assert "Add connection" not in client_for("audrey").get(f"{BASE}/connectors/").content.decode()


def test_the_tokens_empty_state_names_the_tenants_api_path(furnished, acme):
    from configs.models import SessionToken

    with tenant_context(acme):
        SessionToken.objects.all().delete()
    html = client_for("bob").get(f"{BASE}/tokens/").content.decode()
    assert 'id="mint-api-path">POST /t/acme/api/v1/mcp/configs/&lt;id&gt;/tokens<' in html
    assert f'href="{BASE}/servers/"' in html.split('class="card empty"')[1]


def test_a_deleted_servers_events_stay_filterable(furnished, acme):
    import uuid

    from audit.services import audit_record

    gone = uuid.uuid4()
    with tenant_context(acme):
        audit_record(event_type="tool.called", tool_name="demo_add", config_id=gone)
    html = client_for("alice").get(f"{BASE}/audit/?server={gone}").content.decode()
    assert f"deleted server {str(gone)[:8]}…" in html
    assert "demo_add" in html.split('id="audit-results"')[1]
    assert client_for("alice").get(f"{BASE}/audit/?server=not-a-uuid").status_code == 200
