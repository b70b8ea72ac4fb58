# ruff: noqa: F811 - pytest fixtures imported from their support modules
"""The builder lists an upstream MCP connection's prompts and resources beside its tools.

Bob (an admin of acme) builds a server that exposes one prompt and one resource template of a
real upstream on loopback: the page lists them, the estimate counts them, and saving stores
them on the mapping.
"""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from tests.dashboard.conftest import client_for
from tests.upstream.features import features_upstream  # noqa: F401

BASE = "/t/acme/dashboard"


@pytest.fixture
def remote(acme, features_upstream):  # noqa: ANN001
    from configs.services.connections import connection_create, connection_sync_tools

    with tenant_context(acme):
        connection = connection_create(
            name="remote",
            connector="mcp",
            auth_type="none",
            settings={"server_url": features_upstream.url},
            secrets=None,
            actor="tests",
        )
        connection_sync_tools(connection=connection, actor="tests")
    return connection


def _estimate(client, data: dict) -> int:  # noqa: ANN001
    html = client.post(f"{BASE}/servers/estimate/", data).content.decode()
    return int(re.search(r'data-tokens="(\d+)"', html)[1])


def test_builder_lists_prompts_and_resources_beside_tools(acme, remote):
    html = client_for("bob").get(f"{BASE}/servers/new/").content.decode()
    assert 'name="prompt:remote" value="greet"' in html
    assert 'name="prompt:remote" value="admin_only"' in html
    assert 'name="resource:remote" value="memo://mine"' in html
    assert 'name="resource:remote" value="notes://{note_id}"' in html
    assert "2 prompts · 4 resources" in html


def test_estimate_counts_the_ticked_prompts_and_resources(acme, remote):
    client = client_for("bob")
    tools_only = _estimate(client, {"tool:remote": ["echo"]})
    with_prompt = _estimate(client, {"tool:remote": ["echo"], "prompt:remote": ["greet"]})
    with_all = _estimate(
        client, {"tool:remote": ["echo"], "allprompts:remote": "1", "allresources:remote": "1"}
    )
    assert tools_only < with_prompt < with_all


def test_saving_stores_the_ticked_prompts_and_resources(acme, remote):
    from configs.models import McpConfig

    response = client_for("bob").post(
        f"{BASE}/servers/new/",
        {
            "name": "notes",
            "prompt:remote": ["greet"],
            "poname:remote:greet": "hello",
            "resource:remote": ["notes://{note_id}"],
        },
    )
    assert response.status_code == 302
    with tenant_context(acme):
        mapping = McpConfig.objects.get(name="notes").mappings.get()
    assert (mapping.tools, mapping.prompts, mapping.resources, mapping.prompt_overrides) == (
        [],
        ["greet"],
        ["notes://{note_id}"],
        {"greet": {"name": "hello"}},
    )
    edit = client_for("bob").get(f"{BASE}/servers/{mapping.config_id}/edit/").content.decode()
    assert 'name="prompt:remote" value="greet" checked' in edit
    assert 'name="prompt:remote" value="admin_only">' in edit
    # The override survives an edit: the form carries it back.
    assert 'name="poname:remote:greet" value="hello"' in edit


def test_connection_page_lists_what_the_sync_discovered(acme, remote):
    html = client_for("audrey").get(f"{BASE}/connections/remote/").content.decode()
    assert "Prompts (2) · resources (2) · templates (2)" in html
    for shown in ("greet", "admin_only", "memo://mine", "notes://{note_id}"):
        assert shown in html
    assert "supports resource subscriptions" in html
