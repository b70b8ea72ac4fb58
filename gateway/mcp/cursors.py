"""Opaque list cursors (``tools/list``, ``prompts/list``, ``resources/list``, …): the list's
kind and an offset, base64url without padding. Anything else an agent sends is an unknown
cursor, one error for every way it can be wrong."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .jsonrpc import INVALID_PARAMS, JsonRpcError

MAX_CURSOR_LENGTH = 64


def encode_cursor(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: Any) -> int:
    """The offset a cursor of list ``kind`` names; -32602 for anything else."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, number = text.partition(":")
        offset = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor") from None
    if found != kind or offset <= 0:
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: unknown cursor")
    return offset
