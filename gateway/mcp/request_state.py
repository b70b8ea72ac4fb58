"""The ``requestState`` vmcp hands an agent on the 2026-07-28 wire, sealed and bound.

When an upstream answers a relayed ``tools/call`` or ``prompts/get`` with an
``InputRequiredResult`` (``rounds``), the state it carries goes to the agent and comes back on
the retry (SEP-2322). The spec has servers treat the echo as attacker-controlled, and here there
is more to protect than the upstream's own integrity check: the echo must not let one user,
config or token resume another's round. So the upstream's state (opaque, possibly absent) is
sealed with AES-256-GCM under a key derived from ``SECRET_KEY``, with the tenant, config,
session token, end-user identifier, method and the tool's or prompt's name as the associated
data, and an expiry inside. A token that was altered, expired, or minted for any other binding
(another method included) fails to open, and the request is refused with -32602 before
anything runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, JsonRpcError

PREFIX = "vmcp1."
TTL_SECONDS = 900
# What comes back is bounded, so what goes out is too (an upstream state past it is refused).
MAX_TOKEN_CHARS = 65_536
_NONCE_BYTES = 12


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"vmcp mcp requestState v1").derive(
        secret.encode()
    )


def _aad(principal: Any, method: str, name: str) -> bytes:
    binding = [
        principal.tenant.schema_name,
        principal.config_id,
        str(principal.token_id),
        principal.identifier,
        method,
        name,
    ]
    return json.dumps(binding, separators=(",", ":")).encode()


def seal(principal: Any, method: str, name: str, upstream_state: str | None) -> str:
    payload = json.dumps({"s": upstream_state, "exp": int(time.time()) + TTL_SECONDS}).encode()
    nonce = os.urandom(_NONCE_BYTES)
    aead = AESGCM(_key(settings.SECRET_KEY))
    sealed = aead.encrypt(nonce, payload, _aad(principal, method, name))
    token = PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    if len(token) > MAX_TOKEN_CHARS:
        raise JsonRpcError(INTERNAL_ERROR, "The upstream's requestState is too large to relay")
    return token


def refused() -> JsonRpcError:
    # Never says which check failed: the agent learns nothing about the binding.
    return JsonRpcError(INVALID_PARAMS, "Invalid params: requestState failed verification")


def unseal(principal: Any, method: str, name: str, token: Any) -> str | None:
    """The upstream's state inside ``token``; raises -32602 for anything not minted here."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > MAX_TOKEN_CHARS:
        raise refused()
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if len(raw) <= _NONCE_BYTES:
            raise refused()
        payload = AESGCM(_key(settings.SECRET_KEY)).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(principal, method, name)
        )
        content = json.loads(payload)
    except (binascii.Error, ValueError, InvalidTag):
        raise refused() from None
    if not isinstance(content, dict) or not isinstance(content.get("exp"), int):
        raise refused()
    if content["exp"] < time.time():
        raise refused()
    state = content.get("s")
    return state if isinstance(state, str) else None
