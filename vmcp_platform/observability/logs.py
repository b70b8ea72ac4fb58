"""``VMCP_LOG_FORMAT=json``: one JSON object per log line.

The formatter runs after the handler's ``RedactingFilter`` (``vmcp_platform.logging``), which
has already redacted the message, the exception text and every string ``extra``; it never
re-renders a live exception (the filter drops ``exc_info`` once ``exc_text`` is redacted), and
it passes every field through ``redact`` once more, so a formatter used without the filter
still does not print a token. Non-standard record attributes (``extra=``) become top-level keys.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from vmcp_platform.logging import redact

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = _clean(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)
