"""The built-in catalog: every tool is well-formed data an MCP client and an LLM can use."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from connectors import CONNECTORS, all_connectors, get_connector
from connectors.base import Tool

MINIMUM_TOOLS = {"gmail": 22, "googlecalendar": 9, "slack": 12, "github": 16, "demo": 3}
ALL_TOOLS = [(c.slug, t) for c in all_connectors() for t in c.tools]
TOOL_IDS = [t.name for _, t in ALL_TOOLS]
HINTS = {"title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"}

REQUIRED_NAMES = {
    "gmail": {
        "gmail_fetch_mails",
        "gmail_get_message",
        "gmail_send_email",
        "gmail_create_draft",
        "gmail_list_drafts",
        "gmail_send_draft",
        "gmail_list_labels",
        "gmail_create_label",
        "gmail_modify_labels",
        "gmail_trash_message",
        "gmail_untrash_message",
        "gmail_delete_message",
        "gmail_list_threads",
        "gmail_get_thread",
        "gmail_trash_thread",
        "gmail_list_filters",
        "gmail_create_filter",
        "gmail_delete_filter",
        "gmail_get_profile",
        "gmail_get_attachment",
        "gmail_batch_modify",
        "gmail_list_history",
    },
    "googlecalendar": {
        "googlecalendar_list_events",
        "googlecalendar_get_event",
        "googlecalendar_create_event",
        "googlecalendar_update_event",
        "googlecalendar_delete_event",
        "googlecalendar_list_calendars",
        "googlecalendar_quick_add",
        "googlecalendar_freebusy",
        "googlecalendar_move_event",
    },
    "slack": {
        "slack_post_message",
        "slack_update_message",
        "slack_delete_message",
        "slack_list_channels",
        "slack_channel_history",
        "slack_thread_replies",
        "slack_add_reaction",
        "slack_remove_reaction",
        "slack_list_users",
        "slack_get_user_info",
        "slack_search_messages",
        "slack_create_channel",
        "slack_join_channel",
    },
    "demo": {"demo_echo", "demo_current_time", "demo_add"},
}


def test_registry_lists_the_five_built_in_connectors_by_slug() -> None:
    assert list(CONNECTORS) == ["gmail", "googlecalendar", "slack", "github", "demo"]
    assert [c.slug for c in all_connectors()] == list(CONNECTORS)
    assert get_connector("slack") is CONNECTORS["slack"]
    assert get_connector("mcp") is None
    assert get_connector("nope") is None


@pytest.mark.parametrize(("slug", "minimum"), MINIMUM_TOOLS.items())
def test_each_connector_offers_at_least_its_minimum_number_of_tools(
    slug: str, minimum: int
) -> None:
    assert len(CONNECTORS[slug].tools) >= minimum


@pytest.mark.parametrize(("slug", "names"), REQUIRED_NAMES.items())
def test_each_connector_offers_the_tools_agents_are_configured_with(
    slug: str, names: set[str]
) -> None:
    assert names <= set(CONNECTORS[slug].tools_by_name)


def test_tool_names_are_unique_across_the_catalog_and_prefixed_with_their_slug() -> None:
    assert len(TOOL_IDS) == len(set(TOOL_IDS))
    for slug, tool in ALL_TOOLS:
        assert tool.name.startswith(f"{slug}_"), tool.name
        assert tool.name.replace("_", "").isalnum() and tool.name.islower(), tool.name


@pytest.mark.parametrize(("slug", "tool"), ALL_TOOLS, ids=TOOL_IDS)
def test_input_schema_is_a_valid_closed_object_schema(slug: str, tool: Tool) -> None:
    schema = tool.input_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{tool.name}.{name} has no description"


@pytest.mark.parametrize(("slug", "tool"), ALL_TOOLS, ids=TOOL_IDS)
def test_tool_carries_a_description_annotations_and_a_valid_output_schema(
    slug: str, tool: Tool
) -> None:
    assert len(tool.description) >= 20
    assert set(tool.annotations) == HINTS
    assert tool.annotations["title"]
    if tool.annotations["readOnlyHint"]:
        assert tool.annotations["destructiveHint"] is False
    if tool.output_schema is not None:
        Draft202012Validator.check_schema(tool.output_schema)
        assert tool.output_schema["type"] == "object"


def test_provider_tools_call_http_and_demo_tools_run_locally() -> None:
    for slug, tool in ALL_TOOLS:
        if slug == "demo":
            assert tool.local is not None and tool.request is None
        else:
            assert tool.request is not None and tool.local is None


def test_definition_is_the_mcp_tool_object() -> None:
    tool = CONNECTORS["demo"].tools_by_name["demo_add"]
    assert tool.definition() == {
        "name": "demo_add",
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": {
            "type": "object",
            "properties": {"sum": {"type": "number"}},
            "required": ["sum"],
        },
        "annotations": dict(tool.annotations),
    }


def test_destructive_tools_say_so() -> None:
    destructive = {t.name for _, t in ALL_TOOLS if t.annotations["destructiveHint"]}
    assert {
        "gmail_delete_message",
        "gmail_batch_delete",
        "googlecalendar_delete_event",
        "slack_delete_message",
        "github_merge_pull_request",
    } <= destructive
    assert "gmail_fetch_mails" not in destructive


def test_google_connectors_use_google_oauth_with_offline_access() -> None:
    for slug in ("gmail", "googlecalendar"):
        oauth = CONNECTORS[slug].oauth
        assert oauth is not None
        assert oauth.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
        assert oauth.token_url == "https://oauth2.googleapis.com/token"
        assert oauth.revoke_url == "https://oauth2.googleapis.com/revoke"
        assert dict(oauth.extra_authorize_params) == {
            "access_type": "offline",
            "prompt": "consent",
        }
        assert oauth.revoke_style == "rfc7009"
    assert CONNECTORS["gmail"].api_base_url == "https://gmail.googleapis.com"
    assert CONNECTORS["googlecalendar"].api_base_url == "https://www.googleapis.com/calendar/v3"
    assert "https://mail.google.com/" in CONNECTORS["gmail"].oauth.default_scopes  # type: ignore[union-attr]


def test_slack_asks_for_user_scopes_and_reads_the_user_token() -> None:
    oauth = CONNECTORS["slack"].oauth
    assert oauth is not None
    assert oauth.authorize_url == "https://slack.com/oauth/v2/authorize"
    assert oauth.token_url == "https://slack.com/api/oauth.v2.access"
    assert oauth.revoke_url == "https://slack.com/api/auth.revoke"
    assert oauth.scope_param == "user_scope"
    assert oauth.scope_separator == ","
    assert oauth.token_response_path == ("authed_user",)
    assert oauth.refresh_response_path == ()
    assert "chat:write" in oauth.default_scopes


def test_github_sends_its_api_version_and_asks_for_json_tokens() -> None:
    github = CONNECTORS["github"]
    assert github.api_base_url == "https://api.github.com"
    assert dict(github.default_headers) == {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    assert github.oauth is not None
    assert github.oauth.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.oauth.token_url == "https://github.com/login/oauth/access_token"
    assert dict(github.oauth.token_request_headers) == {"Accept": "application/json"}


def test_demo_needs_no_credential() -> None:
    demo = CONNECTORS["demo"]
    assert demo.auth_kind == "none"
    assert demo.oauth is None
