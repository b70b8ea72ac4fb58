"""The fake Gmail API (``/gmail/v1/users/{userId}/...``): messages and the route table;
labels, drafts, threads and the profile are in ``gmail_collections``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import Handler, _Call, _google_error

if TYPE_CHECKING:
    from .server import FakeProviders

from .gmail_collections import (
    gmail_draft,
    gmail_drafts,
    gmail_label,
    gmail_labels,
    gmail_profile,
    gmail_send_draft,
    gmail_thread,
    gmail_threads,
)
from .gmail_common import (
    _as_list,
    _gmail_box,
    _message_view,
    _modify,
    _not_found,
    _page,
    _send_message,
)


def gmail_list_messages(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    labels = _as_list(call.query.get("labelIds"))
    q = str(call.query.get("q", ""))
    include_hidden = call.query.get("includeSpamTrash") == "true"
    found = [
        m
        for m in reversed(box.messages.values())
        if all(label in m["labelIds"] for label in labels)
        and (include_hidden or not {"SPAM", "TRASH"} & set(m["labelIds"]))
        and box.matches(m, q)
    ]
    chunk, next_token = _page(found, call)
    body: dict[str, Any] = {"resultSizeEstimate": len(found)}
    if chunk:
        body["messages"] = [{"id": m["id"], "threadId": m["threadId"]} for m in chunk]
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


def gmail_get_message(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    message = box.messages.get(call.request.path_params["id"])
    if message is None:
        return _not_found()
    return JSONResponse(_message_view(box, message, call))


def gmail_send(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    body = call.json if isinstance(call.json, dict) else {}
    return _send_message(box, body)


def gmail_modify_message(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    message = box.messages.get(call.request.path_params["id"])
    if message is None:
        return _not_found()
    body = call.json if isinstance(call.json, dict) else {}
    action = call.request.path_params.get("action", "modify")
    if action == "trash":
        _modify(message, ["TRASH"], ["INBOX"])
    elif action == "untrash":
        _modify(message, ["INBOX"], ["TRASH"])
    else:
        unknown = [i for i in body.get("addLabelIds", []) if i not in box.labels]
        if unknown:
            return _google_error(400, f"Invalid label: {unknown[0]}", "invalidArgument")
        _modify(message, body.get("addLabelIds", []), body.get("removeLabelIds", []))
    return JSONResponse({k: v for k, v in message.items() if k != "payload"})


def gmail_delete_message(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    if box.messages.pop(call.request.path_params["id"], None) is None:
        return _not_found()
    return Response(status_code=204)


def gmail_batch_modify(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    body = call.json if isinstance(call.json, dict) else {}
    for message_id in body.get("ids", []):
        if message_id in box.messages:
            _modify(
                box.messages[message_id],
                body.get("addLabelIds", []),
                body.get("removeLabelIds", []),
            )
    return Response(status_code=204)


_GMAIL = "/gmail/v1/users/{userId}"

ROUTES: list[tuple[str, str, Handler, list[str]]] = [
    ("google", f"{_GMAIL}/messages", gmail_list_messages, ["GET"]),
    ("google", f"{_GMAIL}/messages/send", gmail_send, ["POST"]),
    ("google", f"{_GMAIL}/messages/batchModify", gmail_batch_modify, ["POST"]),
    ("google", f"{_GMAIL}/messages/{{id}}", gmail_get_message, ["GET"]),
    ("google", f"{_GMAIL}/messages/{{id}}", gmail_delete_message, ["DELETE"]),
    ("google", f"{_GMAIL}/messages/{{id}}/{{action}}", gmail_modify_message, ["POST"]),
    ("google", f"{_GMAIL}/labels", gmail_labels, ["GET", "POST"]),
    ("google", f"{_GMAIL}/labels/{{id}}", gmail_label, ["GET", "PATCH", "PUT", "DELETE"]),
    ("google", f"{_GMAIL}/drafts", gmail_drafts, ["GET", "POST"]),
    ("google", f"{_GMAIL}/drafts/send", gmail_send_draft, ["POST"]),
    ("google", f"{_GMAIL}/drafts/{{id}}", gmail_draft, ["GET", "DELETE"]),
    ("google", f"{_GMAIL}/threads", gmail_threads, ["GET"]),
    ("google", f"{_GMAIL}/threads/{{id}}", gmail_thread, ["GET"]),
    ("google", f"{_GMAIL}/profile", gmail_profile, ["GET"]),
]
