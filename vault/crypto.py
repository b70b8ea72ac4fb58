"""Envelope encryption for tenant secrets: AES-256-GCM data keys wrapped by versioned master keys.

A secret is encrypted under its tenant's data key with associated data naming the tenant, record
and field, so a ciphertext copied to another row does not decrypt. The data key is stored wrapped
under a master key from ``VMCP_MASTER_KEYS``. Every failure raises ``DecryptionError``: there is no
fallback to a raw value.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vmcp_platform.errors import ApplicationError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_VERSION = 1
_WRAPPED_HEADER = struct.Struct(">BI")  # format version, master key version
_MAX_MASTER_VERSION = 2**32 - 1
_ENV = "VMCP_MASTER_KEYS"


class DecryptionError(ApplicationError):
    """A secret or data key could not be decrypted; callers must refuse, never fall back."""

    code = "vault_decryption_failed"
    status = 500


class MasterKeyRing:
    """Master keys by version; the first one parsed is current and wraps every new data key."""

    __slots__ = ("_keys", "_current")

    def __init__(self, keys: dict[int, bytes]) -> None:
        if not keys:
            raise ValueError(f"{_ENV} holds no keys")
        for version, key in keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"{_ENV} key version {version} is not {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._current = next(iter(keys))

    @classmethod
    def parse(cls, value: str) -> MasterKeyRing:
        """Parse ``"2:<base64>,1:<base64>"``; errors name the 1-based entry, never key material."""
        if not value or not value.strip():
            raise ValueError(f"{_ENV} is empty; expected '<version>:<base64 32-byte key>,...'")
        keys: dict[int, bytes] = {}
        for index, entry in enumerate(value.split(","), start=1):
            where = f"{_ENV} entry #{index}"
            version_text, sep, encoded = entry.strip().partition(":")
            if not sep:
                raise ValueError(f"{where} is not of the form '<version>:<base64 key>'")
            version_text = version_text.strip()
            if not version_text.isdecimal() or not 0 < int(version_text) <= _MAX_MASTER_VERSION:
                raise ValueError(f"{where} has an invalid version; expected a positive integer")
            version = int(version_text)
            if version in keys:
                raise ValueError(f"{where} repeats version {version}")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{where} (version {version}): key is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"{where} (version {version}): key must decode to {KEY_BYTES} bytes,"
                    f" got {len(key)}"
                )
            keys[version] = key
        return cls(keys)

    @staticmethod
    def generate_value(version: int = 1) -> str:
        """A fresh ``VMCP_MASTER_KEYS`` value with one random key, for dev defaults and tests."""
        return f"{version}:{base64.b64encode(os.urandom(KEY_BYTES)).decode('ascii')}"

    @property
    def current_version(self) -> int:
        return self._current

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(self._keys)

    def get(self, version: int) -> bytes:
        """The master key for ``version``; an unknown version fails closed."""
        try:
            return self._keys[version]
        except (KeyError, TypeError):
            raise DecryptionError(f"master key version {version!r} is not configured") from None

    def __repr__(self) -> str:
        return f"MasterKeyRing(current_version={self._current}, versions={self.versions})"


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under one master key version, storable in one binary column."""

    master_version: int
    blob: bytes  # nonce || ciphertext+tag

    def to_bytes(self) -> bytes:
        return _WRAPPED_HEADER.pack(FORMAT_VERSION, self.master_version) + self.blob

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview | None) -> WrappedKey:
        """Parse stored bytes (psycopg returns ``memoryview`` for bytea)."""
        data = _as_bytes(data, what="wrapped data key")
        if len(data) < _WRAPPED_HEADER.size or data[0] != FORMAT_VERSION:
            raise DecryptionError("wrapped data key has an unknown format")
        _, master_version = _WRAPPED_HEADER.unpack_from(data)
        return cls(master_version=master_version, blob=data[_WRAPPED_HEADER.size :])


def generate_data_key() -> bytes:
    """32 random bytes for a new tenant data key."""
    return os.urandom(KEY_BYTES)


def _wrap_aad(tenant_id: str, master_version: int) -> bytes:
    return _canonical(
        {"purpose": "vmcp.vault.data_key", "tenant_id": tenant_id, "master_version": master_version}
    )


def wrap_data_key(ring: MasterKeyRing, data_key: bytes, *, tenant_id: str) -> WrappedKey:
    """Encrypt ``data_key`` under the current master key, bound to ``tenant_id``."""
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"data key must be {KEY_BYTES} bytes")
    version = ring.current_version
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.get(version)).encrypt(nonce, data_key, _wrap_aad(tenant_id, version))
    return WrappedKey(master_version=version, blob=nonce + sealed)


def unwrap_data_key(ring: MasterKeyRing, wrapped: WrappedKey, *, tenant_id: str) -> bytes:
    """Decrypt a wrapped data key for ``tenant_id``; any mismatch raises ``DecryptionError``."""
    if not isinstance(wrapped, WrappedKey):
        raise DecryptionError("wrapped data key is missing")
    master_key = ring.get(wrapped.master_version)
    blob = _as_bytes(wrapped.blob, what="wrapped data key")
    data_key = _open(
        master_key, blob, _wrap_aad(tenant_id, wrapped.master_version), what="data key"
    )
    if len(data_key) != KEY_BYTES:
        raise DecryptionError("unwrapped data key has the wrong length")
    return data_key


def associated_data(
    *, tenant_id: str, model: str, record_id: str, field: str, key_version: int
) -> bytes:
    """Canonical AAD binding a secret to its row; JSON with sorted keys so fields never blur."""
    if not all(isinstance(text, str) for text in (tenant_id, model, record_id, field)):
        raise TypeError("associated_data tenant_id, model, record_id and field must be str")
    if isinstance(key_version, bool) or not isinstance(key_version, int):
        raise TypeError("associated_data key_version must be int")
    return _canonical(
        {
            "purpose": "vmcp.vault.secret",
            "tenant_id": tenant_id,
            "model": model,
            "record_id": record_id,
            "field": field,
            "key_version": key_version,
        }
    )


def encrypt(data_key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """Seal ``plaintext`` as ``format_version(1) || nonce(12) || ciphertext+tag``."""
    if len(data_key) != KEY_BYTES:
        raise ValueError(f"data key must be {KEY_BYTES} bytes")
    # A fresh random nonce per message: GCM is broken outright by nonce reuse under one key.
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT_VERSION]) + nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)


def decrypt(data_key: bytes, blob: bytes | bytearray | memoryview | None, *, aad: bytes) -> bytes:
    """Open a blob from ``encrypt``; any tampering, wrong key or wrong AAD raises."""
    data = _as_bytes(blob, what="secret")
    if data[0] != FORMAT_VERSION:
        raise DecryptionError("secret has an unknown format version")
    return _open(data_key, data[1:], aad, what="secret")


def _open(key: bytes, sealed: bytes, aad: bytes, *, what: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise DecryptionError(f"could not decrypt {what}: the key is missing or malformed")
    if not isinstance(aad, bytes) or len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError(f"could not decrypt {what}: the data is truncated or malformed")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        # Deliberately vague: GCM cannot tell a wrong key from a wrong binding or tampering.
        raise DecryptionError(
            f"could not decrypt {what}: wrong key or binding, or the data was tampered with"
        ) from None


def _as_bytes(data: bytes | bytearray | memoryview | None, *, what: str) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview) or not data:
        raise DecryptionError(f"{what} is missing or empty")
    return bytes(data)


def _canonical(fields: dict[str, str | int]) -> bytes:
    # ensure_ascii keeps the encoding total (lone surrogates escape instead of failing to encode).
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
