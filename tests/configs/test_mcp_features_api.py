# ruff: noqa: F811 - pytest fixtures imported from their support modules
"""An upstream's prompts and resources over the REST API: discovered by sync, allowed in a
config's mappings by name / URI / URI template (validated against what sync found), default-deny.
"""

from __future__ import annotations

import time

import pytest
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from configs.features import template_matches
from configs.models import Connection, McpConfig
from tests.upstream.features import features_upstream  # noqa: F401

API = "/t/acme/api/v1"


@pytest.fixture
def synced(acme, acme_api, features_upstream):  # noqa: ANN001
    created = acme_api.post(
        f"{API}/connections",
        {
            "name": "remote",
            "connector": "mcp",
            "auth_type": "none",
            "settings": {"server_url": features_upstream.url},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    response = acme_api.post(f"{API}/connections/remote/sync")
    assert response.status_code == 200, response.content
    with tenant_context(acme):
        Connection.objects.create(name="demo", connector="demo", auth_type="none")
    return response.json()


def _create(api, mapping: dict):  # noqa: ANN001
    return api.post(
        f"{API}/mcp/configs",
        {"name": "notes", "connection_tool_mappings": [mapping]},
        format="json",
    )


def test_sync_discovers_prompts_resources_and_templates(acme, synced):
    assert [p["name"] for p in synced["prompts"]] == ["greet", "admin_only"]
    assert [r["uri"] for r in synced["resources"]] == ["memo://mine", "memo://secret"]
    assert [t["uriTemplate"] for t in synced["resource_templates"]] == [
        "notes://{note_id}",
        "files://{name}",
    ]
    greet = synced["prompts"][0]
    assert greet["arguments"][0]["name"] == "person"
    with tenant_context(acme):
        row = AuditEvent.objects.filter(event_type="connection.synced").latest("id")
        capabilities = Connection.objects.get(name="remote").upstream_capabilities
    assert (row.extra["prompts"], row.extra["resources"], row.extra["resource_templates"]) == (
        2,
        2,
        2,
    )
    assert set(capabilities) == {"prompts", "resources", "completions"}


def test_a_mapping_allows_prompts_and_resources_by_name_uri_and_template(acme, acme_api, synced):
    response = _create(
        acme_api,
        {
            "connection_name": "remote",
            "tools": ["echo"],
            "prompts": ["greet"],
            "resources": ["memo://mine", "notes://{note_id}"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["connection_tool_mappings"] == [
        {
            "connection_name": "remote",
            "tools": ["echo"],
            "overrides": {},
            "tool_rate_limits": {},
            "prompts": ["greet"],
            "resources": ["memo://mine", "notes://{note_id}"],
            "prompt_overrides": {},
        }
    ]
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type="config.created").latest("id")
    assert event.extra["name"] == "notes"


def test_a_prompt_override_renames_it_for_this_server(acme, acme_api, synced):
    from configs.features import config_exposure, exposure_prompt

    response = _create(
        acme_api,
        {
            "connection_name": "remote",
            "prompts": ["greet"],
            "prompt_overrides": {"greet": {"name": "hello", "description": "Say hello."}},
        },
    )
    assert response.status_code == 201, response.content
    with tenant_context(acme):
        exposure = config_exposure(McpConfig.objects.get(name="notes"))
    assert [(p.name, p.prompt_name, p.definition["description"]) for p in exposure.prompts] == [
        ("hello", "greet", "Say hello.")
    ]
    assert exposure_prompt(exposure, "greet") is None


def test_an_override_of_a_prompt_the_mapping_does_not_expose_is_refused(acme, acme_api, synced):
    response = _create(
        acme_api,
        {
            "connection_name": "remote",
            "prompts": ["greet"],
            "prompt_overrides": {"admin_only": {"name": "x"}},
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "connection_tool_mappings[0].prompt_overrides.admin_only": (
            "prompt 'admin_only' is not exposed by this mapping"
        )
    }


def test_a_mapping_of_prompts_only_needs_no_tools(acme, acme_api, synced):
    response = _create(acme_api, {"connection_name": "remote", "prompts": ["*"]})
    assert response.status_code == 201, response.content
    assert response.json()["connection_tool_mappings"][0]["tools"] == []
    assert response.json()["tool_count"] == 0


@pytest.mark.parametrize(
    ("mapping", "key", "message"),
    [
        (
            {"connection_name": "remote", "tools": ["echo"], "prompts": ["nope"]},
            "connection_tool_mappings[0].prompts[0]",
            "unknown prompt 'nope' on connection 'remote' (sync the connection to discover new "
            "ones)",
        ),
        (
            {"connection_name": "remote", "tools": ["echo"], "resources": ["notes://1"]},
            "connection_tool_mappings[0].resources[0]",
            "unknown resource or resource template 'notes://1' on connection 'remote' (sync the "
            "connection to discover new ones)",
        ),
        (
            {"connection_name": "remote", "tools": ["echo"], "resources": ["*", "memo://mine"]},
            "connection_tool_mappings[0].resources[0]",
            "'*' (all resources) must be the only entry",
        ),
        (
            {"connection_name": "remote", "tools": ["echo"], "prompts": ["greet", "greet"]},
            "connection_tool_mappings[0].prompts[1]",
            "'greet' is listed twice",
        ),
        (
            {"connection_name": "demo", "tools": ["*"], "prompts": ["greet"]},
            "connection_tool_mappings[0].prompts",
            "only an upstream MCP connection has prompts",
        ),
        (
            {"connection_name": "remote", "tools": ["echo"], "resources": "memo://mine"},
            "connection_tool_mappings[0].resources",
            'a list of at most 500 entries, or ["*"] for all',
        ),
    ],
)
def test_bad_entries_are_refused_with_their_place_and_change_nothing(
    acme, acme_api, synced, mapping, key, message
):
    response = _create(acme_api, mapping)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"] == {key: message}
    with tenant_context(acme):
        assert not McpConfig.objects.exists()


def test_replacing_the_mappings_audits_prompts_and_resources_changes(acme, acme_api, synced):
    created = _create(
        acme_api, {"connection_name": "remote", "tools": ["echo"], "prompts": ["greet"]}
    ).json()
    response = acme_api.put(
        f"{API}/mcp/configs/{created['id']}",
        {
            "connection_tool_mappings": [
                {"connection_name": "remote", "tools": ["echo"], "resources": ["memo://mine"]}
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type="config.changed").latest("id")
    assert event.extra["prompts_removed"] == ["remote.greet"]
    assert event.extra["resources_added"] == ["remote.memo://mine"]


@pytest.mark.parametrize(
    ("template", "uri", "matches"),
    [
        ("notes://{id}", "notes://42", True),
        ("notes://{id}", "notes://42/more", False),
        ("notes://{id}", "notes://", False),
        ("test://template/{id}/data", "test://template/123/data", True),
        ("test://template/{id}/data", "test://template/1/2/data", False),
        ("files://{+path}", "files://a/b/c", True),
        ("search://q{?term,limit}", "search://q?term=x&limit=3", True),
        ("search://q{?term}", "search://qx", False),
        ("weird://{", "weird://{", False),
        ("a.b://{x}", "aXb://1", False),
        ("files://{+path}/meta", "files://a/b/meta", True),
        ("files://{+path}/meta", "files://a/b/meta/x", False),
        ("x://{a}{b}", "x://ab", True),
        ("x://{a}{b}", "x://a", False),
        ("doc://{name}{.ext}", "doc://report.pdf.gz", True),
        ("doc://{name}{.ext}", "doc://report/x.pdf", False),
        ("tree://root{/seg}", "tree://root/a/b", True),
        ("tree://root{/seg}", "tree://root//a", False),
        ("m://x{;p}", "m://x;a=1;b", True),
        ("m://x{;p}", "m://x;a/b", False),
        ("q://x{?a}{&b}", "q://x?a=1&b=2&c", True),
        ("q://x{?a}{&b}", "q://x&b=2", True),
        ("f://x{#frag}", "f://x#top/more", True),
        ("f://x{#frag}", "f://x#top?no", False),
        ("long://{id}" + "/x" * 300, "long://1" + "/x" * 300, False),  # too long to match
    ],
)
def test_uri_templates_match_only_their_own_family(template, uri, matches):
    assert template_matches(template, uri) is matches


@pytest.mark.parametrize(
    ("template", "uri"),
    [
        ("x:{+a}{+b}{+c}{+d}", "x:" + "a" * 2000 + "#"),
        ("x:{a}{b}{c}{d}{e}{f}", "x:" + "a" * 2000 + "/"),
        ("x:{+a}/{+b}/{+c}/{+d}", "x:" + "/" * 2000 + "#"),
        ("m://x{;p}", "m://x" + ";" * 2000 + "/"),
        ("q://x{&p}", "q://x" + "&" * 2000 + "#"),
        ("t:{/a}{/b}{/c}", "t:" + "/a" * 1000 + "//"),
        ("x:{+a}" + "a" * 500, "x:" + "a" * 2040 + "b"),
    ],
)
def test_a_hostile_template_cannot_stall_the_event_loop(template, uri):
    # The upstream writes the template and the agent the URI: the backtracking regex this
    # replaced took seconds (and grew polynomially) on these. A safety bound, not a benchmark.
    started = time.monotonic()
    assert template_matches(template, uri) is False
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("template", "uri"),
    [
        ("file:///docs/{name}", "file:///docs/.."),
        ("file:///docs/{name}", "file:///docs/."),
        ("file:///docs/{name}", "file:///docs/..%2F..%2Fetc%2Fpasswd"),
        ("file:///docs/{name}", "file:///docs/%2e%2e"),
        ("file:///docs/{name}", "file:///docs/%2E%2E"),
        ("file:///docs/{name}", "file:///docs/..%5cwindows"),
        ("file:///docs/{name}", "file:///docs/..\\windows"),
        ("file:///docs/{+path}", "file:///docs/../../etc/passwd"),
        ("file:///docs/{+path}", "file:///docs/a/./b"),
        ("file:///docs/{+path}", "file:///docs/a/.."),
        ("file:///docs{/segments}", "file:///docs/a/.."),
        ("search://q{?term}", "search://q?term=..%2f"),
    ],
)
def test_an_expansion_cannot_step_out_of_its_template_family(template, uri):
    assert template_matches(template, uri) is False


@pytest.mark.parametrize(
    ("template", "uri"),
    [
        ("file:///docs/{name}", "file:///docs/..hidden"),
        ("file:///docs/{name}", "file:///docs/a.b"),
        ("file:///docs/{name}", "file:///docs/%20x%2A"),
        ("file:///docs/{+path}", "file:///docs/a/b.c/...d"),
        ("file:///docs/../{name}", "file:///docs/../a"),  # the upstream's own literal text
    ],
)
def test_dots_and_escapes_that_stay_in_the_family_still_match(template, uri):
    assert template_matches(template, uri) is True
