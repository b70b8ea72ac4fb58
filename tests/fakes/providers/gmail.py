"""The fake Gmail API (``/gmail/v1/users/{userId}/...``)."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import Handler, _b64url, _Call, _google_error, _hex_id, pick_keys
from .mailbox import _Mailbox

if TYPE_CHECKING:
    from .server import FakeProviders


def _gmail_box(fake: FakeProviders, call: _Call) -> _Mailbox | Response:
    box = fake._mailbox(call.user)
    user_id = call.request.path_params["userId"]
    if user_id not in ("me", box.email):
        return _google_error(403, f"Delegation denied for {box.email}", "forbidden")
    return box


def _not_found() -> JSONResponse:
    return _google_error(404, "Requested entity was not found.", "notFound")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _page(items: list[Any], call: _Call, *, default: int = 100) -> tuple[list[Any], str | None]:
    size = int(call.query.get("maxResults", default))  # type: ignore[arg-type]
    start = int(call.query.get("pageToken", 0) or 0)  # type: ignore[arg-type]
    chunk = items[start : start + size]
    return chunk, str(start + size) if start + size < len(items) else None


def _message_view(box: _Mailbox, message: dict[str, Any], call: _Call) -> dict[str, Any]:
    fmt = call.query.get("format", "full")
    if fmt == "minimal":
        return {k: v for k, v in message.items() if k != "payload"}
    if fmt == "metadata":
        wanted = {h.lower() for h in _as_list(call.query.get("metadataHeaders"))}
        headers = [
            h for h in message["payload"]["headers"] if not wanted or h["name"].lower() in wanted
        ]
        return {**message, "payload": {"mimeType": "text/plain", "headers": headers}}
    if fmt == "raw":
        lines = [f"{h['name']}: {h['value']}" for h in message["payload"]["headers"]]
        body = base64.urlsafe_b64decode(message["payload"]["body"]["data"]).decode()
        raw = "\r\n".join(lines) + "\r\n\r\n" + body
        return {
            **{k: v for k, v in message.items() if k != "payload"},
            "raw": _b64url(raw.encode()),
        }
    return message


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


def _parse_raw(raw: str) -> tuple[str, str, str, str, list[dict[str, str]]] | None:
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (ValueError, TypeError):
        return None
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    part = parsed.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    extra = [
        {"name": name, "value": str(parsed[name])}
        for name in ("Cc", "In-Reply-To", "References")
        if parsed[name]
    ]
    return (
        str(parsed["To"] or ""),
        str(parsed["Subject"] or ""),
        body,
        str(parsed["Bcc"] or ""),
        extra,
    )


def gmail_send(fake: FakeProviders, call: _Call) -> Response:
    box = _gmail_box(fake, call)
    if isinstance(box, Response):
        return box
    body = call.json if isinstance(call.json, dict) else {}
    return _send_message(box, body)


def _send_message(box: _Mailbox, resource: dict[str, Any]) -> Response:
    parsed = _parse_raw(str(resource.get("raw", "")))
    if parsed is None or not (parsed[0] or parsed[3]):
        return _google_error(400, "Invalid To header", "invalidArgument")
    to, subject, text, _, extra = parsed
    message = box.add(
        box.email,
        to,
        subject,
        text,
        ["SENT"],
        thread_id=resource.get("threadId"),
        extra_headers=extra,
    )
    return JSONResponse(
        {"id": message["id"], "threadId": message["threadId"], "labelIds": message["labelIds"]}
    )


def _modify(message: dict[str, Any], add: list[str], remove: list[str]) -> None:
    labels = [label for label in message["labelIds"] if label not in remove]
    message["labelIds"] = labels + [label for label in add if label not in labels]


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
