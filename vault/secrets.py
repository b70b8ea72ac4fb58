"""The only way secrets are written and read: encrypted under the tenant's data key.

Every function works in the current tenant schema (sync ORM). Each ciphertext is bound by its
associated data to the tenant (schema), the owner (type and id), the field and the key version,
so a value copied to another row, field or tenant does not decrypt. Failures raise
``DecryptionError``; nothing ever falls back to a stored value.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import OuterRef, Subquery

from .crypto import DecryptionError, associated_data, decrypt, encrypt
from .keys import data_key_current, tenant_id, unwrap_cached
from .models import DataKey, Secret

MODEL = "vault.Secret"
MAX_SECRET_BYTES = 64 * 1024


def _aad(*, owner_type: str, owner_id: int, field: str, key_version: int) -> bytes:
    return associated_data(
        tenant_id=tenant_id(),
        model=MODEL,
        record_id=f"{owner_type}:{owner_id}",
        field=field,
        key_version=key_version,
    )


def _validate(owner_type: str, owner_id: int, field: str) -> None:
    tenant_id()  # refuses outside a tenant schema before touching any table
    if owner_type not in Secret.OwnerType.values:
        raise ValueError(f"unknown secret owner type {owner_type!r}")
    if isinstance(owner_id, bool) or not isinstance(owner_id, int):
        raise TypeError("owner_id must be an int")
    if not field or len(field) > 64:
        raise ValueError("a secret field name is 1-64 characters")


def seal(*, owner_type: str, owner_id: int, field: str, value: str) -> tuple[int, bytes]:
    """``(key_version, ciphertext)`` for ``value`` under the tenant's current data key."""
    plaintext = value.encode("utf-8")
    if len(plaintext) > MAX_SECRET_BYTES:
        raise ValueError(f"a secret is at most {MAX_SECRET_BYTES} bytes")
    active = data_key_current(create=True)
    assert active is not None
    aad = _aad(owner_type=owner_type, owner_id=owner_id, field=field, key_version=active.version)
    return active.version, encrypt(active.key, plaintext, aad=aad)


def open_secret(row: Secret, *, wrapped: bytes | memoryview | None = None) -> str:
    """Decrypt one ``Secret`` row (``wrapped``: its data key's stored bytes, if already read)."""
    if wrapped is None:
        wrapped = (
            DataKey.objects.filter(version=row.key_version)
            .values_list("wrapped", flat=True)
            .first()
        )
    if wrapped is None:
        raise DecryptionError(f"data key version {row.key_version} does not exist for this tenant")
    key = unwrap_cached(version=row.key_version, wrapped=wrapped)
    aad = _aad(
        owner_type=row.owner_type,
        owner_id=row.owner_id,
        field=row.field,
        key_version=row.key_version,
    )
    plaintext = decrypt(key, row.ciphertext, aad=aad)
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("secret is not valid UTF-8") from None


def secret_put(*, owner_type: str, owner_id: int, field: str, value: str) -> None:
    """Store (or replace) one secret of an owner."""
    _validate(owner_type, owner_id, field)
    if not isinstance(value, str):
        raise TypeError("a secret value must be a str")
    with transaction.atomic():
        key_version, ciphertext = seal(
            owner_type=owner_type, owner_id=owner_id, field=field, value=value
        )
        Secret.objects.update_or_create(
            owner_type=owner_type,
            owner_id=owner_id,
            field=field,
            defaults={"key_version": key_version, "ciphertext": ciphertext},
        )


def secret_get(*, owner_type: str, owner_id: int, field: str) -> str | None:
    """The secret's value, None when it was never set; DecryptionError on any tampering."""
    _validate(owner_type, owner_id, field)
    row = (
        Secret.objects.filter(owner_type=owner_type, owner_id=owner_id, field=field)
        .annotate(
            wrapped_key=Subquery(
                DataKey.objects.filter(version=OuterRef("key_version")).values("wrapped")[:1]
            )
        )
        .first()
    )
    if row is None:
        return None
    return open_secret(row, wrapped=row.wrapped_key)


def secret_delete(*, owner_type: str, owner_id: int, field: str | None = None) -> int:
    """Destroy an owner's secret (one field, or all of them); returns how many rows went."""
    rows = Secret.objects.filter(owner_type=owner_type, owner_id=owner_id)
    if field is not None:
        rows = rows.filter(field=field)
    deleted, _ = rows.delete()
    return deleted


def secrets_delete_for_owners(*, owner_type: str, owner_ids: list[int]) -> int:
    """Destroy every secret of many owners of one type (a connection's accounts)."""
    if not owner_ids:
        return 0
    deleted, _ = Secret.objects.filter(owner_type=owner_type, owner_id__in=owner_ids).delete()
    return deleted


def secret_fields(*, owner_type: str, owner_id: int) -> dict[str, datetime]:
    """The owner's set fields and when each was last written (never their values)."""
    return dict(
        Secret.objects.filter(owner_type=owner_type, owner_id=owner_id)
        .order_by("field")
        .values_list("field", "updated_at")
    )


def secret_versions() -> dict[int, int]:
    """How many secrets of the current tenant sit on each data key version."""
    from django.db.models import Count

    return dict(
        Secret.objects.values("key_version")
        .order_by("key_version")
        .annotate(n=Count("id"))
        .values_list("key_version", "n")
    )


def secrets_reencrypt_batch(*, below_version: int, batch_size: int) -> int:
    """Move up to ``batch_size`` secrets on versions below ``below_version`` to the current
    data key, in one transaction with those rows locked; returns how many moved (0 = done)."""
    with transaction.atomic():
        rows = list(
            Secret.objects.select_for_update()
            .filter(key_version__lt=below_version)
            .order_by("id")[:batch_size]
        )
        for row in rows:
            value = open_secret(row)
            row.key_version, row.ciphertext = seal(
                owner_type=row.owner_type, owner_id=row.owner_id, field=row.field, value=value
            )
        # updated_at stays: the secret's value did not change, only its encryption.
        Secret.objects.bulk_update(rows, ["key_version", "ciphertext"])
    return len(rows)
