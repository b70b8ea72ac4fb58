"""The fake Gmail API beside messages: labels, drafts, threads and the profile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import _Call, _google_error, _hex_id, pick_keys
from .gmail_common import (
    _as_list,
    _gmail_box,
    _message_view,
    _not_found,
    _page,
    _parse_raw,
)

if TYPE_CHECKING:
    from .server import FakeProviders


def gmail_labels(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    if call.request.method == "GET":
        return JSONResponse({"labels": list(box.labels.values())})
    body = call.json if isinstance(call.json, dict) else {}
    name = str(body.get("name", "")).strip()
    if not name:
        return _google_error(400, "Invalid label name", "invalidArgument")
    if any(label["name"].lower() == name.lower() for label in box.labels.values()):
        return _google_error(409, "Label name exists or conflicts", "duplicate")
    label_id = f"Label_{len(box.labels) + 1}"
    label = {
        "id": label_id,
        "name": name,
        "type": "user",
        "messageListVisibility": body.get("messageListVisibility", "show"),
        "labelListVisibility": body.get("labelListVisibility", "labelShow"),
    }
    box.labels[label_id] = label
    return JSONResponse(label)


def gmail_label(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    label = box.labels.get(call.request.path_params["id"])
    if label is None:
        return _not_found()
    if call.request.method == "DELETE":
        if label["type"] == "system":
            return _google_error(400, "Invalid delete request", "invalidArgument")
        del box.labels[label["id"]]
        return Response(status_code=204)
    if call.request.method in ("PATCH", "PUT"):
        label.update(pick_keys(call.json, ("name", "messageListVisibility", "labelListVisibility")))
        return JSONResponse(label)
    with_label = [m for m in box.messages.values() if label["id"] in m["labelIds"]]
    unread = [m for m in with_label if "UNREAD" in m["labelIds"]]
    return JSONResponse(
        {
            **label,
            "messagesTotal": len(with_label),
            "messagesUnread": len(unread),
            "threadsTotal": len({m["threadId"] for m in with_label}),
            "threadsUnread": len({m["threadId"] for m in unread}),
        }
    )


def gmail_drafts(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    if call.request.method == "GET":
        drafts = list(box.drafts.values())
        body: dict[str, Any] = {"resultSizeEstimate": len(drafts)}
        if drafts:
            body["drafts"] = [
                {
                    "id": d["id"],
                    "message": {"id": d["message"]["id"], "threadId": d["message"]["threadId"]},
                }
                for d in drafts
            ]
        return JSONResponse(body)
    resource = (call.json or {}).get("message", {}) if isinstance(call.json, dict) else {}
    parsed = _parse_raw(str(resource.get("raw", "")))
    if parsed is None:
        return _google_error(400, "Invalid raw message", "invalidArgument")
    to, subject, text, _, extra = parsed
    message = box.add(
        box.email,
        to,
        subject,
        text,
        ["DRAFT"],
        thread_id=resource.get("threadId"),
        extra_headers=extra,
    )
    draft_id = "r" + _hex_id(call.user, "draft")
    box.drafts[draft_id] = {"id": draft_id, "message": message, "raw": resource.get("raw")}
    return JSONResponse(
        {"id": draft_id, "message": {k: message[k] for k in ("id", "threadId", "labelIds")}}
    )


def gmail_draft(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    draft = box.drafts.get(call.request.path_params["id"])
    if draft is None:
        return _not_found()
    if call.request.method == "DELETE":
        del box.drafts[draft["id"]]
        box.messages.pop(draft["message"]["id"], None)
        return Response(status_code=204)
    return JSONResponse({"id": draft["id"], "message": draft["message"]})


def gmail_send_draft(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    draft_id = (call.json or {}).get("id") if isinstance(call.json, dict) else None
    draft = box.drafts.pop(str(draft_id), None)
    if draft is None:
        return _not_found()
    message = draft["message"]
    message["labelIds"] = ["SENT"]
    return JSONResponse({k: message[k] for k in ("id", "threadId", "labelIds")})


def gmail_threads(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    threads: dict[str, dict[str, Any]] = {}
    q = str(call.query.get("q", ""))
    labels = _as_list(call.query.get("labelIds"))
    for message in reversed(box.messages.values()):
        if box.matches(message, q) and all(label in message["labelIds"] for label in labels):
            threads.setdefault(
                message["threadId"],
                {
                    "id": message["threadId"],
                    "snippet": message["snippet"],
                    "historyId": message["historyId"],
                },
            )
    chunk, next_token = _page(list(threads.values()), call)
    body: dict[str, Any] = {"resultSizeEstimate": len(threads)}
    if chunk:
        body["threads"] = chunk
    if next_token:
        body["nextPageToken"] = next_token
    return JSONResponse(body)


def gmail_thread(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    thread_id = call.request.path_params["id"]
    messages = [m for m in box.messages.values() if m["threadId"] == thread_id]
    if not messages:
        return _not_found()
    return JSONResponse(
        {
            "id": thread_id,
            "historyId": messages[-1]["historyId"],
            "messages": [_message_view(box, m, call) for m in messages],
        }
    )


def gmail_profile(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    return JSONResponse(
        {
            "emailAddress": box.email,
            "messagesTotal": len(box.messages),
            "threadsTotal": len({m["threadId"] for m in box.messages.values()}),
            "historyId": str(box.history_id),
        }
    )
