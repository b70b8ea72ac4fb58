"""A user's Gmail mailbox: messages, labels, drafts, and Gmail's search syntax (a subset)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .base import _b64url, _hex_id

_SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "TRASH",
    "SPAM",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CATEGORY_PERSONAL",
)


@dataclass
class _Mailbox:
    user: str
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    drafts: dict[str, dict[str, Any]] = field(default_factory=dict)
    history_id: int = 1000

    @property
    def email(self) -> str:
        return f"{self.user}@example.com"

    @classmethod
    def seeded(cls, user: str) -> _Mailbox:
        box = cls(user)
        for name in _SYSTEM_LABELS:
            box.labels[name] = {
                "id": name,
                "name": name,
                "type": "system",
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
            }
        box.add(
            "ana@example.com",
            box.email,
            f"Welcome, {user}",
            f"Hi {user}, your account is ready.",
            ["INBOX", "UNREAD"],
        )
        box.add(
            "billing@example.com",
            box.email,
            "Your invoice",
            f"Invoice 42 for {user}: 10 EUR.",
            ["INBOX"],
        )
        return box

    def add(
        self,
        sender: str,
        to: str,
        subject: str,
        body: str,
        labels: list[str],
        *,
        thread_id: str | None = None,
        extra_headers: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        self.history_id += 1
        message_id = _hex_id(self.user, "message")
        headers = [
            {"name": "From", "value": sender},
            {"name": "To", "value": to},
            {"name": "Subject", "value": subject},
            {"name": "Date", "value": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")},
            {"name": "Message-ID", "value": f"<{message_id}@mail.example.com>"},
            *(extra_headers or []),
        ]
        message = {
            "id": message_id,
            "threadId": thread_id or message_id,
            "labelIds": list(labels),
            "snippet": body[:100],
            "historyId": str(self.history_id),
            "internalDate": str(int(time.time() * 1000)),
            "sizeEstimate": len(body) + 200,
            "payload": {
                "partId": "",
                "mimeType": "text/plain",
                "filename": "",
                "headers": headers,
                "body": {"size": len(body.encode()), "data": _b64url(body.encode())},
            },
        }
        self.messages[message_id] = message
        return message

    def header(self, message: dict[str, Any], name: str) -> str:
        for item in message["payload"]["headers"]:
            if item["name"].lower() == name.lower():
                return item["value"]
        return ""

    def matches(self, message: dict[str, Any], q: str) -> bool:
        for term in q.split():
            key, _, value = term.partition(":")
            value = value.lower()
            if key == "from" and value:
                ok = value in self.header(message, "From").lower()
            elif key == "to" and value:
                ok = value in self.header(message, "To").lower()
            elif key == "subject" and value:
                ok = value in self.header(message, "Subject").lower()
            elif key == "is" and value in ("unread", "starred"):
                ok = value.upper() in message["labelIds"]
            elif key in ("label", "in") and value:
                ok = value.upper() in message["labelIds"] or any(
                    label["name"].lower() == value and label["id"] in message["labelIds"]
                    for label in self.labels.values()
                )
            else:
                haystack = " ".join(
                    [
                        message["snippet"],
                        self.header(message, "Subject"),
                        self.header(message, "From"),
                    ]
                ).lower()
                ok = term.lower() in haystack
            if not ok:
                return False
        return True
