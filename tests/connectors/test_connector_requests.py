"""How tool arguments become provider requests: exact method, path, parameters and body."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest

from connectors import CONNECTORS
from connectors.base import HttpCall, OAuthSpec, Tool


def build(tool_name: str, arguments: dict[str, Any]) -> HttpCall:
    tool = CONNECTORS[tool_name.split("_", 1)[0]].tools_by_name[tool_name]
    assert tool.request is not None
    return tool.request(arguments)


def decode_raw(raw: str) -> Any:
    return BytesParser(policy=policy.default).parsebytes(base64.urlsafe_b64decode(raw))


def test_gmail_fetch_mails_lists_messages_with_the_search_query() -> None:
    call = build("gmail_fetch_mails", {"q": "from:ana is:unread", "maxResults": 5})
    assert call == HttpCall(
        "GET",
        "/gmail/v1/users/me/messages",
        params={"q": "from:ana is:unread", "maxResults": 5},
    )


def test_gmail_send_email_sends_a_base64url_rfc2822_message() -> None:
    call = build(
        "gmail_send_email",
        {
            "to": ["bob@example.com", "carol@example.com"],
            "cc": ["dan@example.com"],
            "subject": "Quarterly numbers ✓",
            "body": "See attached.\n",
        },
    )
    assert (call.method, call.path, call.params) == (
        "POST",
        "/gmail/v1/users/me/messages/send",
        None,
    )
    assert set(call.json) == {"raw"}
    message = decode_raw(call.json["raw"])
    assert message["To"] == "bob@example.com, carol@example.com"
    assert message["Cc"] == "dan@example.com"
    assert message["Subject"] == "Quarterly numbers ✓"
    # SMTP line endings (CRLF), as RFC 2822 requires on the wire.
    assert message.get_content() == "See attached.\r\n"


def test_gmail_reply_stays_in_its_thread() -> None:
    call = build(
        "gmail_send_email",
        {
            "to": ["bob@example.com"],
            "subject": "Re: lunch",
            "body": "Yes!",
            "thread_id": "18c2f4a9b5e3d7a1",
            "in_reply_to": "<abc@mail.example.com>",
        },
    )
    assert call.json["threadId"] == "18c2f4a9b5e3d7a1"
    message = decode_raw(call.json["raw"])
    assert message["In-Reply-To"] == "<abc@mail.example.com>"
    assert message["References"] == "<abc@mail.example.com>"


def test_gmail_html_body_becomes_a_multipart_alternative() -> None:
    call = build(
        "gmail_send_email",
        {"to": ["b@example.com"], "subject": "s", "body": "plain", "html_body": "<b>rich</b>"},
    )
    message = decode_raw(call.json["raw"])
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("html",)).get_content().strip() == "<b>rich</b>"


def test_gmail_create_draft_wraps_the_message() -> None:
    call = build("gmail_create_draft", {"to": ["b@example.com"], "subject": "s", "body": "x"})
    assert (call.method, call.path) == ("POST", "/gmail/v1/users/me/drafts")
    assert decode_raw(call.json["message"]["raw"])["Subject"] == "s"


def test_gmail_modify_labels_posts_the_label_changes() -> None:
    call = build("gmail_modify_labels", {"id": "m1", "removeLabelIds": ["UNREAD"]})
    assert call == HttpCall(
        "POST", "/gmail/v1/users/me/messages/m1/modify", json={"removeLabelIds": ["UNREAD"]}
    )


def test_gmail_path_parameters_are_quoted_as_one_segment() -> None:
    call = build("gmail_get_label", {"id": "Label/../../settings"})
    assert call.path == "/gmail/v1/users/me/labels/Label%2F..%2F..%2Fsettings"
    call = build("gmail_get_attachment", {"messageId": "m 1", "id": "a?b"})
    assert call.path == "/gmail/v1/users/me/messages/m%201/attachments/a%3Fb"


def test_gmail_create_filter_sends_criteria_and_action() -> None:
    call = build(
        "gmail_create_filter",
        {"criteria": {"from": "news@example.com"}, "action": {"removeLabelIds": ["INBOX"]}},
    )
    assert call == HttpCall(
        "POST",
        "/gmail/v1/users/me/settings/filters",
        json={"criteria": {"from": "news@example.com"}, "action": {"removeLabelIds": ["INBOX"]}},
    )


def test_gmail_list_history_requires_a_start_point() -> None:
    call = build("gmail_list_history", {"startHistoryId": "1234", "historyTypes": ["messageAdded"]})
    assert call == HttpCall(
        "GET",
        "/gmail/v1/users/me/history",
        params={"startHistoryId": "1234", "historyTypes": ["messageAdded"]},
    )


def test_calendar_tools_default_to_the_primary_calendar() -> None:
    call = build("googlecalendar_list_events", {"timeMin": "2025-03-01T00:00:00Z"})
    assert call == HttpCall(
        "GET", "/calendars/primary/events", params={"timeMin": "2025-03-01T00:00:00Z"}
    )


def test_calendar_ids_with_reserved_characters_are_quoted() -> None:
    call = build(
        "googlecalendar_get_event",
        {"calendarId": "en.usa#holiday@group.v.calendar.google.com", "eventId": "e/1"},
    )
    assert call.path == "/calendars/en.usa%23holiday%40group.v.calendar.google.com/events/e%2F1"


def test_calendar_create_event_with_a_meet_link_asks_for_conference_data() -> None:
    start = {"dateTime": "2025-03-01T09:00:00+01:00"}
    end = {"dateTime": "2025-03-01T10:00:00+01:00"}
    call = build(
        "googlecalendar_create_event",
        {
            "summary": "Design review",
            "start": start,
            "end": end,
            "attendees": [{"email": "bob@example.com"}],
            "create_meet_link": True,
            "sendUpdates": "all",
        },
    )
    assert (call.method, call.path) == ("POST", "/calendars/primary/events")
    assert call.params == {"sendUpdates": "all", "conferenceDataVersion": 1}
    request_id = call.json["conferenceData"]["createRequest"]["requestId"]
    assert call.json == {
        "summary": "Design review",
        "start": start,
        "end": end,
        "attendees": [{"email": "bob@example.com"}],
        "conferenceData": {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        },
    }


def test_calendar_update_event_patches_only_given_fields() -> None:
    call = build("googlecalendar_update_event", {"eventId": "ev1", "summary": "Moved"})
    assert call == HttpCall("PATCH", "/calendars/primary/events/ev1", json={"summary": "Moved"})


def test_calendar_quick_add_and_move_use_query_parameters() -> None:
    assert build("googlecalendar_quick_add", {"text": "Lunch tomorrow noon"}) == HttpCall(
        "POST", "/calendars/primary/events/quickAdd", params={"text": "Lunch tomorrow noon"}
    )
    assert build(
        "googlecalendar_move_event", {"eventId": "ev1", "destination": "team@example.com"}
    ) == HttpCall(
        "POST", "/calendars/primary/events/ev1/move", params={"destination": "team@example.com"}
    )


def test_calendar_freebusy_lists_the_calendars_as_items() -> None:
    call = build(
        "googlecalendar_freebusy",
        {
            "timeMin": "2025-03-01T00:00:00Z",
            "timeMax": "2025-03-02T00:00:00Z",
            "calendars": ["primary", "bob@example.com"],
        },
    )
    assert call == HttpCall(
        "POST",
        "/freeBusy",
        json={
            "timeMin": "2025-03-01T00:00:00Z",
            "timeMax": "2025-03-02T00:00:00Z",
            "items": [{"id": "primary"}, {"id": "bob@example.com"}],
        },
    )


def test_slack_write_methods_send_utf8_json() -> None:
    call = build("slack_post_message", {"channel": "C1", "text": "héllo", "thread_ts": "1.2"})
    assert call == HttpCall(
        "POST",
        "/chat.postMessage",
        json={"channel": "C1", "text": "héllo", "thread_ts": "1.2"},
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def test_slack_read_methods_send_query_parameters() -> None:
    call = build("slack_channel_history", {"channel": "C1", "limit": 20, "oldest": "1.0"})
    assert call == HttpCall(
        "GET", "/conversations.history", params={"channel": "C1", "oldest": "1.0", "limit": 20}
    )


def test_slack_user_lists_are_sent_comma_separated() -> None:
    call = build("slack_invite_to_channel", {"channel": "C1", "users": ["U1", "U2"]})
    assert call.json == {"channel": "C1", "users": "U1,U2"}


def test_github_create_issue_posts_the_issue_fields() -> None:
    call = build(
        "github_create_issue",
        {"owner": "octo", "repo": "web", "title": "Crash", "labels": ["bug"]},
    )
    assert call == HttpCall(
        "POST", "/repos/octo/web/issues", json={"title": "Crash", "labels": ["bug"]}
    )


def test_github_owner_and_repo_cannot_escape_their_segment() -> None:
    call = build("github_get_repo", {"owner": "octo/../../admin", "repo": "x"})
    assert call.path == "/repos/octo%2F..%2F..%2Fadmin/x"


def test_github_file_paths_keep_their_slashes_but_quote_the_rest() -> None:
    call = build(
        "github_get_file_contents",
        {"owner": "octo", "repo": "web", "path": "docs/read me#1.md", "ref": "main"},
    )
    assert call == HttpCall(
        "GET", "/repos/octo/web/contents/docs/read%20me%231.md", params={"ref": "main"}
    )


def test_github_commit_file_sends_base64_content() -> None:
    call = build(
        "github_create_or_update_file",
        {"owner": "o", "repo": "r", "path": "a.txt", "message": "add", "content": "hé"},
    )
    assert call == HttpCall(
        "PUT",
        "/repos/o/r/contents/a.txt",
        json={"message": "add", "content": base64.b64encode("hé".encode()).decode()},
    )


def test_github_merge_pull_request_puts_the_merge_method() -> None:
    call = build(
        "github_merge_pull_request",
        {"owner": "o", "repo": "r", "pull_number": 7, "merge_method": "squash", "sha": "abc"},
    )
    assert call == HttpCall(
        "PUT", "/repos/o/r/pulls/7/merge", json={"sha": "abc", "merge_method": "squash"}
    )


def test_github_file_contents_are_decoded_for_the_agent() -> None:
    tool = CONNECTORS["github"].tools_by_name["github_get_file_contents"]
    assert tool.response is not None
    body = {"type": "file", "encoding": "base64", "content": "aGVsbG8K\n"}
    assert tool.response(body) == {**body, "decoded_content": "hello\n"}


def test_revoke_requests_follow_each_providers_convention() -> None:
    google, slack, github = (CONNECTORS[s].oauth for s in ("gmail", "slack", "github"))
    assert isinstance(google, OAuthSpec) and isinstance(slack, OAuthSpec)
    assert isinstance(github, OAuthSpec)
    assert google.revoke_request("tok", client_id="c", client_secret="s") == {
        "method": "POST",
        "url": "https://oauth2.googleapis.com/revoke",
        "data": {"token": "tok"},
    }
    assert slack.revoke_request("tok", client_id="c", client_secret="s") == {
        "method": "POST",
        "url": "https://slack.com/api/auth.revoke",
        "headers": {"Authorization": "Bearer tok"},
    }
    assert github.revoke_request("tok", client_id="Iv1.abc", client_secret="s") == {
        "method": "DELETE",
        "url": "https://api.github.com/applications/Iv1.abc/token",
        "auth": ("Iv1.abc", "s"),
        "headers": {"Accept": "application/vnd.github+json"},
        "json": {"access_token": "tok"},
    }


def test_a_tool_is_either_an_http_call_or_local() -> None:
    schema = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
    with pytest.raises(ValueError, match="exactly one"):
        Tool(name="x_y", description="d", input_schema=schema)
    with pytest.raises(ValueError, match="exactly one"):
        Tool(
            name="x_y",
            description="d",
            input_schema=schema,
            request=lambda a: HttpCall("GET", "/"),
            local=lambda a: a,
        )
