"""Vault secrets: round trips in the tenant's schema, bound to their row, field and tenant,
never stored in the clear, and gone with the tenant."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django_tenants.utils import tenant_context

from vault import keys
from vault.crypto import DecryptionError, MasterKeyRing
from vault.models import DataKey, Secret
from vault.secrets import secret_delete, secret_fields, secret_get, secret_put

CONN = Secret.OwnerType.CONNECTION
ACCOUNT = Secret.OwnerType.ACCOUNT
PLAINTEXT = "xoxp-very-secret-value-7f3a9c"


def test_secret_round_trips_and_creates_data_key_v1_lazily(in_acme):
    assert DataKey.objects.count() == 0
    secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
    assert list(DataKey.objects.values_list("version", flat=True)) == [1]
    assert secret_get(owner_type=CONN, owner_id=1, field="client_secret") == PLAINTEXT
    secret_put(owner_type=CONN, owner_id=1, field="client_secret", value="replaced ünïcode")
    assert secret_get(owner_type=CONN, owner_id=1, field="client_secret") == "replaced ünïcode"
    assert Secret.objects.count() == 1 and DataKey.objects.count() == 1


def test_missing_secret_is_none_and_fields_report_only_timestamps(in_acme):
    assert secret_get(owner_type=CONN, owner_id=9, field="client_secret") is None
    secret_put(owner_type=CONN, owner_id=9, field="client_secret", value="a")
    secret_put(owner_type=CONN, owner_id=9, field="shared_header", value="b")
    fields = secret_fields(owner_type=CONN, owner_id=9)
    assert sorted(fields) == ["client_secret", "shared_header"]
    assert all(hasattr(v, "isoformat") for v in fields.values())


def test_delete_one_field_or_all(in_acme):
    for field in ("a", "b"):
        secret_put(owner_type=ACCOUNT, owner_id=3, field=field, value="v")
    assert secret_delete(owner_type=ACCOUNT, owner_id=3, field="a") == 1
    assert secret_get(owner_type=ACCOUNT, owner_id=3, field="a") is None
    assert secret_delete(owner_type=ACCOUNT, owner_id=3) == 1
    assert secret_fields(owner_type=ACCOUNT, owner_id=3) == {}


@pytest.mark.parametrize(
    ("owner_type", "owner_id", "field"),
    [(CONN, 2, "client_secret"), (ACCOUNT, 1, "client_secret"), (CONN, 1, "shared_header")],
)
def test_ciphertext_copied_to_another_row_or_field_does_not_decrypt(
    in_acme, owner_type, owner_id, field
):
    secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
    secret_put(owner_type=owner_type, owner_id=owner_id, field=field, value="decoy")
    original = Secret.objects.get(owner_type=CONN, owner_id=1, field="client_secret")
    Secret.objects.filter(owner_type=owner_type, owner_id=owner_id, field=field).update(
        ciphertext=original.ciphertext
    )
    with pytest.raises(DecryptionError):
        secret_get(owner_type=owner_type, owner_id=owner_id, field=field)


def test_ciphertext_copied_into_another_tenant_does_not_decrypt(acme, globex):
    with tenant_context(acme):
        secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
        row = Secret.objects.get(owner_type=CONN, owner_id=1, field="client_secret")
        acme_key = DataKey.objects.get(version=1)
    with tenant_context(globex):
        secret_put(owner_type=CONN, owner_id=1, field="client_secret", value="globex's own")
        Secret.objects.filter(owner_type=CONN, owner_id=1).update(ciphertext=row.ciphertext)
        with pytest.raises(DecryptionError):
            secret_get(owner_type=CONN, owner_id=1, field="client_secret")
        # Even acme's wrapped data key copied along does not help: the wrap names acme.
        DataKey.objects.filter(version=1).update(wrapped=acme_key.wrapped)
        with pytest.raises(DecryptionError):
            secret_get(owner_type=CONN, owner_id=1, field="client_secret")


def test_flipped_byte_or_changed_key_version_fails_closed(in_acme):
    secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
    row = Secret.objects.get()
    flipped = bytearray(bytes(row.ciphertext))
    flipped[-1] ^= 0x01
    Secret.objects.update(ciphertext=bytes(flipped))
    with pytest.raises(DecryptionError):
        secret_get(owner_type=CONN, owner_id=1, field="client_secret")
    Secret.objects.update(ciphertext=row.ciphertext, key_version=2)
    with pytest.raises(DecryptionError):
        secret_get(owner_type=CONN, owner_id=1, field="client_secret")


def test_no_plaintext_in_any_column_of_the_tenant_schema(in_acme):
    secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
    secret_put(owner_type=ACCOUNT, owner_id=1, field="api_key", value=PLAINTEXT + "-2")
    needle = PLAINTEXT.encode()
    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND data_type IN "
            "('text', 'character varying', 'bytea', 'jsonb', 'json')",
            [connection.schema_name],
        )
        columns = cursor.fetchall()
        assert ("vault_secret", "ciphertext", "bytea") in columns
        for table, column, data_type in columns:
            expr = (
                f'"{column}"' if data_type == "bytea" else f"convert_to(\"{column}\"::text, 'UTF8')"
            )
            cursor.execute(
                f'SELECT count(*) FROM "{table}" WHERE position(%s::bytea in {expr}) > 0',
                [needle],
            )
            if cursor.fetchone()[0]:
                hits.append((table, column))
    assert hits == []


def test_unwrapped_keys_are_cached_but_not_across_a_ring_change(in_acme, monkeypatch):
    secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
    calls = []
    real = keys.unwrap_data_key
    monkeypatch.setattr(keys, "unwrap_data_key", lambda *a, **k: calls.append(1) or real(*a, **k))
    keys.clear_cache()
    for _ in range(5):
        assert secret_get(owner_type=CONN, owner_id=1, field="client_secret") == PLAINTEXT
    assert len(calls) == 1
    with override_settings(VMCP_MASTER_KEYS=MasterKeyRing.generate_value(7)):
        with pytest.raises(DecryptionError):
            secret_get(owner_type=CONN, owner_id=1, field="client_secret")


def test_concurrent_first_writes_share_one_data_key(in_acme):
    # The lazy creation loses gracefully: a second creation attempt re-reads version 1.
    secret_put(owner_type=CONN, owner_id=1, field="a", value="x")
    keys._create_first_key()
    assert DataKey.objects.count() == 1
    secret_put(owner_type=CONN, owner_id=2, field="a", value="y")
    assert secret_get(owner_type=CONN, owner_id=1, field="a") == "x"


def test_vault_refuses_to_work_in_the_public_schema(db):
    connection.set_schema_to_public()
    with pytest.raises(DecryptionError):
        secret_put(owner_type=CONN, owner_id=1, field="a", value="x")


def test_deleted_tenant_secrets_cannot_be_read_even_by_a_tenant_reusing_its_name(
    django_db_blocker, django_db_setup
):
    from tenants.models import Tenant
    from tenants.services import tenant_create, tenant_delete

    slug = "shred-test"

    def create() -> Tenant:
        return tenant_create(
            slug=slug, name="Shred", owner_email="o@shred.test", owner_password="x" * 12
        )

    with django_db_blocker.unblock():
        stale = Tenant.objects.filter(slug=slug).first()
        if stale:
            tenant_delete(tenant=stale)
        tenant = create()
        try:
            with tenant_context(tenant):
                secret_put(owner_type=CONN, owner_id=1, field="client_secret", value=PLAINTEXT)
                assert secret_get(owner_type=CONN, owner_id=1, field="client_secret") == PLAINTEXT
                ciphertext = bytes(Secret.objects.get().ciphertext)
            tenant_delete(tenant=tenant)
            connection.set_schema_to_public()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
                    [tenant.schema_name],
                )
                assert cursor.fetchone()[0] == 0
            # Same slug, same schema name, same process (warm key cache): the old key is gone.
            tenant = create()
            with tenant_context(tenant):
                assert secret_get(owner_type=CONN, owner_id=1, field="client_secret") is None
                secret_put(owner_type=CONN, owner_id=1, field="client_secret", value="new")
                Secret.objects.update(ciphertext=ciphertext)
                with pytest.raises(DecryptionError):
                    secret_get(owner_type=CONN, owner_id=1, field="client_secret")
        finally:
            connection.set_schema_to_public()
            tenant_delete(tenant=tenant)
