"""Slack, through the Slack Web API (https://docs.slack.dev/reference/methods).

The connection holds a *user* token (OAuth v2 ``user_scope``), so messages are posted as the
end user and searches see what that user sees. Read methods send their arguments as query
parameters and write methods as a JSON body, as the method reference documents.

Slack answers most failures with HTTP 200 and ``{"ok": false, "error": "<code>"}``;
``slack_error_check`` turns those into ``ProviderError`` with an HTTP-like status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from connectors._schema import (
    RequestBuilder,
    boolean,
    enum,
    integer,
    obj,
    pick,
    read_only,
    string,
    strings,
    writes,
)
from connectors.base import Connector, HttpCall, OAuthSpec, Tool
from vmcp_platform.errors import ProviderError

JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}

_UNAUTHORIZED = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_permission",
}
_FORBIDDEN = {
    "missing_scope",
    "not_in_channel",
    "is_archived",
    "restricted_action",
    "cant_update_message",
    "cant_delete_message",
    "access_denied",
    "ekm_access_denied",
}
_NOT_FOUND = {
    "channel_not_found",
    "user_not_found",
    "users_not_found",
    "message_not_found",
    "thread_not_found",
    "no_reaction",
    "file_not_found",
}
_UNAVAILABLE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def _status_for(error: str) -> int:
    if error in _UNAUTHORIZED:
        return 401
    if error in _FORBIDDEN:
        return 403
    if error in _NOT_FOUND:
        return 404
    if error == "ratelimited":
        return 429
    if error in _UNAVAILABLE:
        return 503
    return 400


def slack_error_check(response: httpx.Response, body: Any) -> None:
    """Raise ``ProviderError`` for HTTP failures and for ``{"ok": false}`` bodies."""
    error = body.get("error") if isinstance(body, dict) else None
    retry_after = _retry_after(response)
    if response.status_code == 429:
        raise ProviderError("rate limited by Slack", provider_status=429, retry_after=retry_after)
    if not response.is_success:
        raise ProviderError(
            f"Slack returned HTTP {response.status_code}: {error or response.reason_phrase}",
            provider_status=response.status_code,
            retry_after=retry_after,
        )
    if isinstance(body, dict) and body.get("ok") is False:
        code = str(error or "unknown_error")[:100]
        raise ProviderError(
            f"Slack refused the call: {code}",
            provider_status=_status_for(code),
            retry_after=retry_after,
            details={"slack_error": code},
        )


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _read(method: str, params: Sequence[str]) -> RequestBuilder:
    def build(args: dict[str, Any]) -> HttpCall:
        return HttpCall("GET", f"/{method}", params=pick(args, params) or None)

    return build


def _write(method: str, fields: Sequence[str], *, csv: Sequence[str] = ()) -> RequestBuilder:
    """A JSON-body method; ``csv`` names arrays Slack wants as comma-separated strings."""

    def build(args: dict[str, Any]) -> HttpCall:
        body = pick(args, fields)
        for name in csv:
            if isinstance(body.get(name), list):
                body[name] = ",".join(body[name])
        return HttpCall("POST", f"/{method}", json=body, headers=JSON_UTF8)

    return build


_CHANNEL = string("Channel id, e.g. C0123456789 (see slack_list_channels); a DM id also works.")
_TS = string("Timestamp id of the message, e.g. '1712345678.123456'.")
_CURSOR = string("response_metadata.next_cursor from a previous response, for the next page.")
_LIMIT = integer("Maximum items per page.", minimum=1, maximum=1000)
_TEXT = string("Message text in Slack mrkdwn (*bold*, _italic_, <@U123> mentions, <url|label>).")
_BLOCKS = {
    "type": "array",
    "items": {"type": "object"},
    "description": "Block Kit blocks; when given, text becomes the notification fallback.",
}
_OLDEST = string("Only messages after this Unix timestamp, e.g. '1712345678.000000'.")
_LATEST = string("Only messages before this Unix timestamp.")
_REACTION = string("Emoji name without colons, e.g. 'thumbsup'.")
_USER = string("User id, e.g. U0123456789.")

TOOLS = (
    Tool(
        name="slack_post_message",
        description=(
            "Post a message to a channel, DM or thread as the user. To reply in a thread, "
            "pass the parent message's ts as thread_ts."
        ),
        input_schema=obj(
            {
                "channel": _CHANNEL,
                "text": _TEXT,
                "blocks": _BLOCKS,
                "thread_ts": string("ts of the parent message to reply in its thread."),
                "reply_broadcast": boolean("With thread_ts, also show the reply in the channel."),
                "unfurl_links": boolean("Show previews of links in the text."),
                "unfurl_media": boolean("Show previews of media links."),
                "mrkdwn": boolean("Parse mrkdwn formatting. Default true."),
            },
            ["channel", "text"],
        ),
        request=_write(
            "chat.postMessage",
            (
                "channel",
                "text",
                "blocks",
                "thread_ts",
                "reply_broadcast",
                "unfurl_links",
                "unfurl_media",
                "mrkdwn",
            ),
        ),
        annotations=writes("Post message"),
    ),
    Tool(
        name="slack_update_message",
        description="Edit the text or blocks of a message the user posted.",
        input_schema=obj(
            {"channel": _CHANNEL, "ts": _TS, "text": _TEXT, "blocks": _BLOCKS}, ["channel", "ts"]
        ),
        request=_write("chat.update", ("channel", "ts", "text", "blocks")),
        annotations=writes("Edit message", idempotent=True),
    ),
    Tool(
        name="slack_delete_message",
        description="Delete a message the user posted. This cannot be undone.",
        input_schema=obj({"channel": _CHANNEL, "ts": _TS}, ["channel", "ts"]),
        request=_write("chat.delete", ("channel", "ts")),
        annotations=writes("Delete message", destructive=True, idempotent=True),
    ),
    Tool(
        name="slack_schedule_message",
        description="Schedule a message to be posted later (up to 120 days ahead).",
        input_schema=obj(
            {
                "channel": _CHANNEL,
                "post_at": integer("When to post, as a Unix timestamp in seconds.", minimum=0),
                "text": _TEXT,
                "thread_ts": string("ts of the parent message to reply in its thread."),
            },
            ["channel", "post_at", "text"],
        ),
        request=_write("chat.scheduleMessage", ("channel", "post_at", "text", "thread_ts")),
        annotations=writes("Schedule message"),
    ),
    Tool(
        name="slack_get_permalink",
        description="Get a shareable URL for one message.",
        input_schema=obj({"channel": _CHANNEL, "message_ts": _TS}, ["channel", "message_ts"]),
        request=_read("chat.getPermalink", ("channel", "message_ts")),
        annotations=read_only("Get message link"),
    ),
    Tool(
        name="slack_list_channels",
        description=(
            "List conversations in the workspace visible to the user, with ids and names. "
            "Use types to include private channels and DMs."
        ),
        input_schema=obj(
            {
                "types": string(
                    "Comma-separated mix of public_channel, private_channel, mpim, im. "
                    "Default public_channel."
                ),
                "exclude_archived": boolean("Leave out archived channels."),
                "limit": _LIMIT,
                "cursor": _CURSOR,
            }
        ),
        request=_read("conversations.list", ("types", "exclude_archived", "limit", "cursor")),
        annotations=read_only("List channels"),
    ),
    Tool(
        name="slack_get_channel_info",
        description="Get a conversation's name, topic, purpose, creation date and flags.",
        input_schema=obj(
            {"channel": _CHANNEL, "include_num_members": boolean("Include the member count.")},
            ["channel"],
        ),
        request=_read("conversations.info", ("channel", "include_num_members")),
        annotations=read_only("Get channel info"),
    ),
    Tool(
        name="slack_channel_history",
        description=(
            "Read recent messages of a conversation, newest first. Thread replies are not "
            "included; use slack_thread_replies with a message's ts."
        ),
        input_schema=obj(
            {
                "channel": _CHANNEL,
                "oldest": _OLDEST,
                "latest": _LATEST,
                "inclusive": boolean("Include messages exactly at oldest/latest."),
                "limit": _LIMIT,
                "cursor": _CURSOR,
            },
            ["channel"],
        ),
        request=_read(
            "conversations.history",
            ("channel", "oldest", "latest", "inclusive", "limit", "cursor"),
        ),
        annotations=read_only("Read channel history"),
    ),
    Tool(
        name="slack_thread_replies",
        description="Read a thread: the parent message followed by its replies.",
        input_schema=obj(
            {
                "channel": _CHANNEL,
                "ts": string("ts of the thread's parent message."),
                "oldest": _OLDEST,
                "latest": _LATEST,
                "inclusive": boolean("Include messages exactly at oldest/latest."),
                "limit": _LIMIT,
                "cursor": _CURSOR,
            },
            ["channel", "ts"],
        ),
        request=_read(
            "conversations.replies",
            ("channel", "ts", "oldest", "latest", "inclusive", "limit", "cursor"),
        ),
        annotations=read_only("Read thread"),
    ),
    Tool(
        name="slack_list_channel_members",
        description="List the user ids of a conversation's members.",
        input_schema=obj({"channel": _CHANNEL, "limit": _LIMIT, "cursor": _CURSOR}, ["channel"]),
        request=_read("conversations.members", ("channel", "limit", "cursor")),
        annotations=read_only("List channel members"),
    ),
    Tool(
        name="slack_create_channel",
        description="Create a channel; the user becomes its first member.",
        input_schema=obj(
            {
                "name": string(
                    "Channel name: lowercase letters, numbers, hyphens and underscores, at most "
                    "80 characters.",
                    pattern="^[a-z0-9_-]{1,80}$",
                ),
                "is_private": boolean("Create a private channel."),
            },
            ["name"],
        ),
        request=_write("conversations.create", ("name", "is_private")),
        annotations=writes("Create channel"),
    ),
    Tool(
        name="slack_join_channel",
        description="Join a public channel as the user.",
        input_schema=obj({"channel": _CHANNEL}, ["channel"]),
        request=_write("conversations.join", ("channel",)),
        annotations=writes("Join channel", idempotent=True),
    ),
    Tool(
        name="slack_invite_to_channel",
        description="Invite users (up to 1000) to a channel the user is a member of.",
        input_schema=obj(
            {"channel": _CHANNEL, "users": strings("User ids to invite.", min_items=1)},
            ["channel", "users"],
        ),
        request=_write("conversations.invite", ("channel", "users"), csv=("users",)),
        annotations=writes("Invite to channel", idempotent=True),
    ),
    Tool(
        name="slack_set_channel_topic",
        description="Set the topic shown in a channel's header.",
        input_schema=obj(
            {"channel": _CHANNEL, "topic": string("The new topic (no formatting).")},
            ["channel", "topic"],
        ),
        request=_write("conversations.setTopic", ("channel", "topic")),
        annotations=writes("Set channel topic", idempotent=True),
    ),
    Tool(
        name="slack_open_dm",
        description=(
            "Open (or find) a direct message with one user, or a group DM with up to 8, and "
            "return its channel id for slack_post_message."
        ),
        input_schema=obj({"users": strings("User ids.", min_items=1)}, ["users"]),
        request=_write("conversations.open", ("users",), csv=("users",)),
        annotations=writes("Open direct message", idempotent=True),
    ),
    Tool(
        name="slack_add_reaction",
        description="Add an emoji reaction to a message as the user.",
        input_schema=obj(
            {"channel": _CHANNEL, "timestamp": _TS, "name": _REACTION},
            ["channel", "timestamp", "name"],
        ),
        request=_write("reactions.add", ("channel", "timestamp", "name")),
        annotations=writes("Add reaction", idempotent=True),
    ),
    Tool(
        name="slack_remove_reaction",
        description="Remove the user's emoji reaction from a message.",
        input_schema=obj(
            {"channel": _CHANNEL, "timestamp": _TS, "name": _REACTION},
            ["channel", "timestamp", "name"],
        ),
        request=_write("reactions.remove", ("channel", "timestamp", "name")),
        annotations=writes("Remove reaction", destructive=True, idempotent=True),
    ),
    Tool(
        name="slack_list_users",
        description="List the workspace's members with ids, names, titles and time zones.",
        input_schema=obj({"limit": _LIMIT, "cursor": _CURSOR}),
        request=_read("users.list", ("limit", "cursor")),
        annotations=read_only("List users"),
    ),
    Tool(
        name="slack_get_user_info",
        description="Get one user's profile: name, display name, title, time zone, status.",
        input_schema=obj({"user": _USER}, ["user"]),
        request=_read("users.info", ("user",)),
        annotations=read_only("Get user info"),
    ),
    Tool(
        name="slack_lookup_user_by_email",
        description="Find a workspace member by email address.",
        input_schema=obj({"email": string("Email address.", format="email")}, ["email"]),
        request=_read("users.lookupByEmail", ("email",)),
        annotations=read_only("Find user by email"),
    ),
    Tool(
        name="slack_search_messages",
        description=(
            "Search messages the user can see, with Slack search syntax, e.g. "
            "'budget in:#finance from:@ana after:2025-01-01'."
        ),
        input_schema=obj(
            {
                "query": string("Search query."),
                "count": integer("Results per page.", minimum=1, maximum=100),
                "page": integer("Page number, from 1.", minimum=1),
                "sort": enum(["score", "timestamp"], "Sort by relevance or time."),
                "sort_dir": enum(["asc", "desc"], "Sort direction."),
            },
            ["query"],
        ),
        request=_read("search.messages", ("query", "count", "page", "sort", "sort_dir")),
        annotations=read_only("Search messages"),
    ),
    Tool(
        name="slack_get_current_user",
        description="Identify the connected user and workspace (user id, team id, URL).",
        input_schema=obj({}),
        request=_read("auth.test", ()),
        annotations=read_only("Who am I"),
    ),
)

CONNECTOR = Connector(
    slug="slack",
    name="Slack",
    description="Read and post messages, manage channels and reactions as the Slack user.",
    auth_kind="oauth2",
    api_base_url="https://slack.com/api",
    tools=TOOLS,
    oauth=OAuthSpec(
        authorize_url="https://slack.com/oauth/v2/authorize",
        token_url="https://slack.com/api/oauth.v2.access",
        revoke_url="https://slack.com/api/auth.revoke",
        default_scopes=(
            "channels:read",
            "channels:history",
            "channels:write",
            "groups:read",
            "groups:history",
            "groups:write",
            "im:read",
            "im:history",
            "im:write",
            "mpim:read",
            "mpim:history",
            "mpim:write",
            "chat:write",
            "reactions:read",
            "reactions:write",
            "users:read",
            "users:read.email",
            "search:read",
        ),
        scope_separator=",",
        scope_param="user_scope",
        token_response_path=("authed_user",),
        # With token rotation, refresh_token grants answer with the token at the top level.
        refresh_response_path=(),
        token_auth_method="client_secret_basic",
        revoke_style="bearer",
    ),
    error_check=slack_error_check,
)
