"""The one sanitiser for values that come off the wire and are stored.

PostgreSQL ``text`` and ``jsonb`` refuse NUL (and psycopg refuses lone surrogates, which JSON's
``\\ud800`` escapes produce), so such a value reaching an insert fails the write — after the
work it was meant to record. Every request id, name, identifier, ``clientInfo``/``_meta`` value
and stored header passes these helpers, with a length bound, before any work is done.

Below every app: no Django, no imports from the project.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# C0 controls and DEL, except tab and newline (harmless in a log line or a table cell).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Every C0 control and DEL: for single-line values (ids, names) where a newline is never right.
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f]")

REQUEST_ID_MAX = 64
JSON_BLOB_MAX_BYTES = 2048
_MAX_DEPTH = 8
TRUNCATED = "[TRUNCATED]"


def _valid_unicode(value: str) -> str:
    # Lone surrogates ("\ud800" in JSON) cannot be encoded as UTF-8: replace them.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def wire_text(value: Any, *, max_len: int, single_line: bool = True) -> str:
    """``value`` as storable text: no NUL or other controls, valid UTF-8, at most ``max_len``.

    ``single_line`` (the default, for ids and names) drops tab and newline too.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = _valid_unicode(text)
    text = (_CONTROL_STRICT if single_line else _CONTROL).sub("", text)
    return text[:max_len]


def is_clean_text(value: str, *, max_len: int) -> bool:
    """True when ``wire_text`` would keep ``value`` as it is (for validators that refuse)."""
    return isinstance(value, str) and wire_text(value, max_len=max_len) == value


def wire_request_id(value: Any) -> str:
    """A JSON-RPC id (string or number) as the audit row stores it."""
    if value is None or isinstance(value, bool):
        return ""
    return wire_text(value, max_len=REQUEST_ID_MAX)


def _clean(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return TRUNCATED
    if isinstance(value, str):
        return wire_text(value, max_len=JSON_BLOB_MAX_BYTES, single_line=False)
    if isinstance(value, dict):
        return {wire_text(key, max_len=128): _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/Infinity: PostgreSQL's jsonb refuses them, so no row could be stored
    if isinstance(value, bool | int | float) or value is None:
        return value
    return wire_text(value, max_len=JSON_BLOB_MAX_BYTES)


def wire_value(value: Any) -> Any:
    """Any JSON value with NULs and controls (but tab/newline) stripped, keys included."""
    return _clean(value, 0)


def wire_json(value: Any, *, max_bytes: int = JSON_BLOB_MAX_BYTES) -> dict[str, Any]:
    """A small JSON object from the wire (``clientInfo``, ``_meta``), safe to store.

    NULs and controls are stripped recursively (keys too); when the result serialises to more
    than ``max_bytes`` it is replaced by ``{"truncated": true}`` rather than cut mid-structure.
    Anything but an object becomes ``{}``.
    """
    if not isinstance(value, dict):
        return {}
    cleaned = _clean(value, 0)
    size = len(json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False).encode())
    return cleaned if size <= max_bytes else {"truncated": True}
