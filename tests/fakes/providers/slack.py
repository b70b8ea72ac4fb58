"""The fake Slack Web API (``/slack/api/<method>``), one workspace per user."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import SLACK_TEAM, Handler, _Call, _hex_id, _slack_error, slack_user_id

if TYPE_CHECKING:
    from .server import FakeProviders


@dataclass
class _Workspace:
    user: str
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(100))

    @classmethod
    def seeded(cls, user: str) -> _Workspace:
        ws = cls(user)
        for login in (user, "ana", "bob"):
            ws.members.setdefault(slack_user_id(login), _slack_member(login))
        for channel_id, name in (("C0GENERAL1", "general"), ("C0RANDOM01", "random")):
            ws.add_channel(channel_id, name)
        ws.post("C0GENERAL1", slack_user_id("ana"), f"Hello {user}, welcome to #general!")
        return ws

    def add_channel(self, channel_id: str, name: str, *, private: bool = False) -> dict[str, Any]:
        channel = {
            "id": channel_id,
            "name": name,
            "is_channel": not private,
            "is_group": private,
            "is_im": False,
            "is_private": private,
            "is_archived": False,
            "is_general": name == "general",
            "is_member": True,
            "created": 1_700_000_000,
            "creator": slack_user_id(self.user),
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "num_members": len(self.members),
        }
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel

    def find_channel(self, value: Any) -> dict[str, Any] | None:
        value = str(value or "").lstrip("#")
        if value in self.channels:
            return self.channels[value]
        return next((c for c in self.channels.values() if c["name"] == value), None)

    def post(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "user": user_id, "text": text, "ts": ts, **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = self.find_message(channel_id, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages[channel_id].append(message)
        return message

    def find_message(self, channel_id: str, ts: Any) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)


def _slack_member(login: str) -> dict[str, Any]:
    return {
        "id": slack_user_id(login),
        "team_id": SLACK_TEAM["id"],
        "name": login,
        "deleted": False,
        "real_name": login.title(),
        "tz": "Europe/Paris",
        "is_bot": False,
        "profile": {
            "real_name": login.title(),
            "display_name": login,
            "email": f"{login}@example.com",
            "title": "",
        },
    }


def slack_method(fake: FakeProviders, call: _Call) -> Response:
    method = call.request.path_params["method"]
    handler = _SLACK_METHODS.get(method)
    if handler is None:
        if re.fullmatch(r"[a-z]+(\.[a-zA-Z]+)+", method):
            return JSONResponse({"ok": True})
        return _slack_error("unknown_method")
    return handler(fake._workspace(call.user), call)


def _slack_channel(ws: _Workspace, call: _Call) -> dict[str, Any] | None:
    return ws.find_channel(call.arg("channel"))


def _slack_post(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    text, blocks = call.arg("text"), call.arg("blocks")
    if not text and not blocks:
        return _slack_error("no_text")
    extra = {"blocks": blocks} if blocks else {}
    message = ws.post(
        channel["id"],
        slack_user_id(ws.user),
        str(text or ""),
        thread_ts=call.arg("thread_ts"),
        **extra,
    )
    return JSONResponse(
        {"ok": True, "channel": channel["id"], "ts": message["ts"], "message": message}
    )


def _slack_update(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    message = ws.find_message(channel["id"], call.arg("ts"))
    if message is None:
        return _slack_error("message_not_found")
    if message["user"] != slack_user_id(ws.user):
        return _slack_error("cant_update_message")
    if call.request.path_params["method"] == "chat.delete":
        ws.messages[channel["id"]].remove(message)
        return JSONResponse({"ok": True, "channel": channel["id"], "ts": message["ts"]})
    message["text"] = str(call.arg("text") or message["text"])
    message["edited"] = {"user": message["user"], "ts": f"{time.time():.6f}"}
    return JSONResponse(
        {"ok": True, "channel": channel["id"], "ts": message["ts"], "text": message["text"]}
    )


def _slack_list_channels(ws: _Workspace, call: _Call) -> Response:
    types = str(call.arg("types") or "public_channel").split(",")
    channels = [
        c
        for c in ws.channels.values()
        if ("private_channel" in types if c["is_private"] else "public_channel" in types)
    ]
    limit = int(call.arg("limit") or 100)
    return JSONResponse(
        {"ok": True, "channels": channels[:limit], "response_metadata": {"next_cursor": ""}}
    )


def _slack_history(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    top = [m for m in ws.messages[channel["id"]] if m.get("thread_ts") in (None, m["ts"])]
    limit = int(call.arg("limit") or 100)
    newest_first = list(reversed(top))
    return JSONResponse(
        {
            "ok": True,
            "messages": newest_first[:limit],
            "has_more": len(newest_first) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }
    )


def _slack_replies(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    ts = call.arg("ts")
    parent = ws.find_message(channel["id"], ts)
    if parent is None:
        return _slack_error("thread_not_found")
    replies = [
        m for m in ws.messages[channel["id"]] if m.get("thread_ts") == ts and m is not parent
    ]
    return JSONResponse({"ok": True, "messages": [parent, *replies], "has_more": False})


def _slack_info(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    return JSONResponse({"ok": True, "channel": channel})


def _slack_create(ws: _Workspace, call: _Call) -> Response:
    name = str(call.arg("name") or "")
    if not re.fullmatch(r"[a-z0-9_-]{1,80}", name):
        return _slack_error("invalid_name_specials")
    if ws.find_channel(name) is not None:
        return _slack_error("name_taken")
    is_private = call.arg("is_private") in (True, "true", "1")
    channel = ws.add_channel("C" + _hex_id(ws.user, name)[:9].upper(), name, private=is_private)
    return JSONResponse({"ok": True, "channel": channel})


def _slack_join(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    channel["is_member"] = True
    return JSONResponse({"ok": True, "channel": channel})


def _slack_reaction(ws: _Workspace, call: _Call) -> Response:
    channel = _slack_channel(ws, call)
    if channel is None:
        return _slack_error("channel_not_found")
    message = ws.find_message(channel["id"], call.arg("timestamp"))
    if message is None:
        return _slack_error("message_not_found")
    name = str(call.arg("name") or "")
    me = slack_user_id(ws.user)
    reactions = message.setdefault("reactions", [])
    reaction = next((r for r in reactions if r["name"] == name), None)
    if call.request.path_params["method"] == "reactions.add":
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if me in reaction["users"]:
            return _slack_error("already_reacted")
        reaction["users"].append(me)
    else:
        if reaction is None or me not in reaction["users"]:
            return _slack_error("no_reaction")
        reaction["users"].remove(me)
        if not reaction["users"]:
            reactions.remove(reaction)
    if reaction is not None:
        reaction["count"] = len(reaction["users"])
    return JSONResponse({"ok": True})


def _slack_users(ws: _Workspace, call: _Call) -> Response:
    return JSONResponse(
        {
            "ok": True,
            "members": list(ws.members.values()),
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": ""},
        }
    )


def _slack_user_info(ws: _Workspace, call: _Call) -> Response:
    member = ws.members.get(str(call.arg("user")))
    if member is None:
        return _slack_error("user_not_found")
    return JSONResponse({"ok": True, "user": member})


def _slack_lookup_email(ws: _Workspace, call: _Call) -> Response:
    email = str(call.arg("email") or "")
    member = next((m for m in ws.members.values() if m["profile"]["email"] == email), None)
    if member is None:
        return _slack_error("users_not_found")
    return JSONResponse({"ok": True, "user": member})


def _slack_auth_test(ws: _Workspace, call: _Call) -> Response:
    return JSONResponse(
        {
            "ok": True,
            "url": f"https://{SLACK_TEAM['domain']}.slack.com/",
            "team": SLACK_TEAM["name"],
            "user": ws.user,
            "team_id": SLACK_TEAM["id"],
            "user_id": slack_user_id(ws.user),
        }
    )


def _slack_search(ws: _Workspace, call: _Call) -> Response:
    query = str(call.arg("query") or "").lower()
    matches = [
        {**m, "channel": {"id": cid, "name": ws.channels[cid]["name"]}}
        for cid, messages in ws.messages.items()
        for m in messages
        if query and query in m["text"].lower()
    ]
    return JSONResponse(
        {
            "ok": True,
            "query": call.arg("query"),
            "messages": {
                "matches": matches,
                "total": len(matches),
                "paging": {"count": 20, "total": len(matches), "page": 1, "pages": 1},
            },
        }
    )


_SLACK_METHODS: dict[str, Callable[[_Workspace, _Call], Response]] = {
    "chat.postMessage": _slack_post,
    "chat.update": _slack_update,
    "chat.delete": _slack_update,
    "conversations.list": _slack_list_channels,
    "conversations.history": _slack_history,
    "conversations.replies": _slack_replies,
    "conversations.info": _slack_info,
    "conversations.create": _slack_create,
    "conversations.join": _slack_join,
    "reactions.add": _slack_reaction,
    "reactions.remove": _slack_reaction,
    "users.list": _slack_users,
    "users.info": _slack_user_info,
    "users.lookupByEmail": _slack_lookup_email,
    "auth.test": _slack_auth_test,
    "search.messages": _slack_search,
}


ROUTES: list[tuple[str, str, Handler, list[str]]] = [
    ("slack", "/{method}", slack_method, ["GET", "POST"]),
]
