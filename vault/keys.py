"""Tenant data keys: created lazily, wrapped by the master key ring, cached unwrapped in memory.

The tenant id bound into every wrap and every secret is the tenant's schema name: a schema is
what a tenant's rows live in, and dropping it destroys the key (crypto-shredding).

The cache holds unwrapped keys keyed by the ring they were unwrapped with, the schema, the
version and the wrapped bytes themselves — so a changed ring, a re-wrapped key or a tenant
re-created under the same schema name can never be served a stale key.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from .crypto import (
    DecryptionError,
    MasterKeyRing,
    WrappedKey,
    generate_data_key,
    unwrap_data_key,
    wrap_data_key,
)
from .models import DataKey

_CACHE_MAX = 4096
_lock = threading.Lock()
_ring_cache: tuple[str, MasterKeyRing, str] | None = None  # (setting value, ring, ring id)
_key_cache: OrderedDict[tuple[str, str, int, bytes], bytes] = OrderedDict()


@dataclass(frozen=True)
class ActiveKey:
    version: int
    key: bytes


def master_ring() -> tuple[MasterKeyRing, str]:
    """The ring from ``settings.VMCP_MASTER_KEYS`` and an opaque id that changes with it."""
    global _ring_cache
    value = settings.VMCP_MASTER_KEYS
    cached = _ring_cache
    if cached is not None and cached[0] == value:
        return cached[1], cached[2]
    try:
        ring = MasterKeyRing.parse(value)
    except ValueError as exc:
        raise DecryptionError(f"the master key ring is not usable: {exc}") from None
    ring_id = hashlib.sha256(value.encode()).hexdigest()
    with _lock:
        # A new ring invalidates every key unwrapped under the old one.
        _key_cache.clear()
        _ring_cache = (value, ring, ring_id)
    return ring, ring_id


def tenant_id() -> str:
    """The current tenant's id for key and secret bindings: its schema name."""
    schema = connection.schema_name
    if not schema or schema == "public":
        # Secrets only exist inside a tenant schema; refusing here keeps a mistake from
        # writing (or reading) under a wrong binding.
        raise DecryptionError("the vault needs a tenant schema to be selected")
    return schema


def clear_cache() -> None:
    """Forget every unwrapped key (tests; a process that wants to shed key material)."""
    with _lock:
        _key_cache.clear()


def unwrap_cached(*, version: int, wrapped: bytes | memoryview) -> bytes:
    """The data key stored as ``wrapped`` (``version`` of the current tenant), unwrapped once."""
    ring, ring_id = master_ring()
    schema = tenant_id()
    raw = bytes(wrapped)
    cache_key = (ring_id, schema, version, raw)
    with _lock:
        key = _key_cache.get(cache_key)
        if key is not None:
            _key_cache.move_to_end(cache_key)
            return key
    key = unwrap_data_key(ring, WrappedKey.from_bytes(raw), tenant_id=schema)
    with _lock:
        _key_cache[cache_key] = key
        while len(_key_cache) > _CACHE_MAX:
            _key_cache.popitem(last=False)
    return key


def data_key_for(version: int) -> bytes:
    """The current tenant's data key ``version``; a missing version fails closed."""
    row = DataKey.objects.filter(version=version).values_list("wrapped", flat=True).first()
    if row is None:
        raise DecryptionError(f"data key version {version} does not exist for this tenant")
    return unwrap_cached(version=version, wrapped=row)


def data_key_current(*, create: bool = True) -> ActiveKey | None:
    """The newest data key of the current tenant, creating version 1 on first use."""
    row = DataKey.objects.order_by("-version").values_list("version", "wrapped").first()
    if row is None:
        if not create:
            return None
        row = _create_first_key()
    version, wrapped = row
    return ActiveKey(version=version, key=unwrap_cached(version=version, wrapped=wrapped))


def _create_first_key() -> tuple[int, bytes]:
    ring, _ = master_ring()
    wrapped = wrap_data_key(ring, generate_data_key(), tenant_id=tenant_id())
    try:
        # A savepoint: losing the race to a concurrent writer must not poison the outer
        # transaction; the unique version makes the loser re-read the winner's key.
        with transaction.atomic():
            DataKey.objects.create(
                version=1, master_version=wrapped.master_version, wrapped=wrapped.to_bytes()
            )
    except IntegrityError:
        pass
    row = DataKey.objects.order_by("-version").values_list("version", "wrapped").first()
    if row is None:  # pragma: no cover - the insert or the concurrent one must be visible
        raise DecryptionError("could not create the tenant's data key")
    return row[0], bytes(row[1])


def data_key_add_version() -> int:
    """Create the next data key version (wrapped by the current master key); returns it."""
    ring, _ = master_ring()
    with transaction.atomic():
        # Serialise concurrent rotations of one tenant on its newest key row.
        latest = DataKey.objects.select_for_update().order_by("-version").first()
        version = (latest.version + 1) if latest else 1
        wrapped = wrap_data_key(ring, generate_data_key(), tenant_id=tenant_id())
        DataKey.objects.create(
            version=version, master_version=wrapped.master_version, wrapped=wrapped.to_bytes()
        )
    return version


def data_keys_rewrap() -> int:
    """Re-wrap every data key of the current tenant not under the current master key."""
    ring, _ = master_ring()
    schema = tenant_id()
    count = 0
    with transaction.atomic():
        for row in DataKey.objects.select_for_update().order_by("version"):
            wrapped = WrappedKey.from_bytes(row.wrapped)
            if wrapped.master_version == ring.current_version:
                continue
            key = unwrap_data_key(ring, wrapped, tenant_id=schema)
            rewrapped = wrap_data_key(ring, key, tenant_id=schema)
            row.wrapped = rewrapped.to_bytes()
            row.master_version = rewrapped.master_version
            row.save(update_fields=["wrapped", "master_version"])
            count += 1
    return count
