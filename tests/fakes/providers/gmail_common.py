"""What the fake Gmail API's handlers share: the caller's mailbox, paging, the message views
and the send path (messages.send and drafts.send both end there)."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from .base import _b64url, _Call, _google_error
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
