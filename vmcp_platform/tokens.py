"""Platform secrets: random, prefixed for secret scanners, checksummed, stored as hashes.

``vmcp_sk_…`` tenant API keys, ``vmcp_st_…`` session tokens, ``vmcp_cl_…`` connect links.
The last six characters are a CRC32 of the rest (like GitHub's tokens), so a mistyped or
truncated token is refused without touching the database.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 40  # 40 base62 characters ≈ 238 bits
_CHECKSUM_LENGTH = 6

API_KEY_PREFIX = "vmcp_sk_"
SESSION_TOKEN_PREFIX = "vmcp_st_"
CONNECT_LINK_PREFIX = "vmcp_cl_"
INVITATION_PREFIX = "vmcp_iv_"


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        chars.append(_ALPHABET[rest])
    return "".join(reversed(chars))


def _checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode()), _CHECKSUM_LENGTH)


def generate(prefix: str) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{prefix}{body}{_checksum(prefix + body)}"


def is_well_formed(token: str, prefix: str) -> bool:
    """True when the token has the prefix, the length, the alphabet and a valid checksum."""
    if not isinstance(token, str) or not token.startswith(prefix):
        return False
    rest = token[len(prefix) :]
    if len(rest) != _BODY_LENGTH + _CHECKSUM_LENGTH or any(c not in _ALPHABET for c in rest):
        return False
    body, checksum = rest[:_BODY_LENGTH], rest[_BODY_LENGTH:]
    return secrets.compare_digest(_checksum(prefix + body), checksum)


def hash_token(token: str) -> str:
    # Tokens carry ~238 random bits, so a fast hash is enough; a slow KDF would only add latency.
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """What may be shown later to recognise a token: its kind and four characters."""
    return token[:12]
