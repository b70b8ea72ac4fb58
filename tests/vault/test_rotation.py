"""``vault_rotate``: master key re-wrap without touching secrets, data key rotation in batches,
old versions readable until moved, and a ring without the old key failing closed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_tenants.utils import tenant_context

from audit.models import AuditEvent, EventType
from vault.crypto import DecryptionError, MasterKeyRing
from vault.models import DataKey, Secret
from vault.secrets import secret_get, secret_put

CONN = Secret.OwnerType.CONNECTION
OLD = MasterKeyRing.generate_value(1)
NEW = MasterKeyRing.generate_value(2)


def _rotate(*args: str) -> str:
    out = StringIO()
    call_command("vault_rotate", *args, stdout=out, stderr=out)
    return out.getvalue()


def _fill(tenant, count: int) -> None:  # noqa: ANN001
    with tenant_context(tenant):
        for i in range(count):
            secret_put(owner_type=CONN, owner_id=i, field="client_secret", value=f"s-{i}")


def _read_all(tenant, count: int) -> list[str | None]:  # noqa: ANN001
    with tenant_context(tenant):
        return [
            secret_get(owner_type=CONN, owner_id=i, field="client_secret") for i in range(count)
        ]


def test_rewrap_moves_data_keys_to_the_new_master_key_without_touching_secrets(acme, globex):
    with override_settings(VMCP_MASTER_KEYS=OLD):
        _fill(acme, 3)
        _fill(globex, 2)
        with tenant_context(acme):
            before = list(Secret.objects.order_by("id").values_list("ciphertext", flat=True))
    with override_settings(VMCP_MASTER_KEYS=f"{NEW},{OLD}"):
        out = _rotate()
        assert "acme: re-wrapped 1 data key(s) under master key v2" in out
        assert "globex: re-wrapped 1 data key(s) under master key v2" in out
        assert "acme: secrets per data key version — v1: 3" in out
    with override_settings(VMCP_MASTER_KEYS=NEW):  # the old master key is gone now
        assert _read_all(acme, 3) == ["s-0", "s-1", "s-2"]
        assert _read_all(globex, 2) == ["s-0", "s-1"]
    with tenant_context(acme):
        assert list(DataKey.objects.values_list("master_version", flat=True)) == [2]
        after = list(Secret.objects.order_by("id").values_list("ciphertext", flat=True))
        assert [bytes(b) for b in after] == [bytes(b) for b in before]
        event = AuditEvent.objects.get(event_type=EventType.VAULT_ROTATED)
        assert event.extra["rewrapped"] == 1 and event.extra["master_version"] == 2


def test_unrotated_tenant_fails_closed_once_the_old_master_key_is_removed(acme, globex):
    with override_settings(VMCP_MASTER_KEYS=OLD):
        _fill(acme, 1)
        _fill(globex, 1)
    with override_settings(VMCP_MASTER_KEYS=f"{NEW},{OLD}"):
        out = _rotate("--tenant", "acme")
        assert "globex" not in out
    with override_settings(VMCP_MASTER_KEYS=NEW):
        assert _read_all(acme, 1) == ["s-0"]
        with pytest.raises(DecryptionError):
            _read_all(globex, 1)
        # Rotating now cannot help globex either: its key is under a master key we lack.
        with pytest.raises(CommandError, match="globex"):
            _rotate("--tenant", "globex")


def test_data_key_rotation_reencrypts_in_batches_and_reports_versions(acme):
    with override_settings(VMCP_MASTER_KEYS=OLD):
        _fill(acme, 5)
        out = _rotate("--tenant", "acme", "--data-keys", "--batch-size", "2")
        assert "acme: re-encrypted 2 secret(s) with data key v2" in out
        assert "acme: re-encrypted 4 secret(s) with data key v2" in out
        assert "acme: re-encrypted 5 secret(s) with data key v2" in out
        assert "acme: secrets per data key version — v1: 0, v2: 5" in out
        assert _read_all(acme, 5) == [f"s-{i}" for i in range(5)]
        with tenant_context(acme):
            assert set(Secret.objects.values_list("key_version", flat=True)) == {2}
            event = AuditEvent.objects.get(event_type=EventType.VAULT_ROTATED)
            assert event.extra["reencrypted"] == 5 and event.extra["data_key_version"] == 2
            assert event.extra["rows_per_key_version"] == {"2": 5}
            # New writes use the newest version.
            secret_put(owner_type=CONN, owner_id=99, field="client_secret", value="new")
            assert Secret.objects.get(owner_id=99).key_version == 2


def test_old_data_key_versions_keep_decrypting_until_moved(acme):
    with override_settings(VMCP_MASTER_KEYS=OLD):
        _fill(acme, 2)
        with tenant_context(acme):
            from vault.keys import data_key_add_version

            assert data_key_add_version() == 2
            secret_put(owner_type=CONN, owner_id=7, field="client_secret", value="on-v2")
            assert sorted(Secret.objects.values_list("key_version", flat=True)) == [1, 1, 2]
        assert _read_all(acme, 2) == ["s-0", "s-1"]
        out = _rotate("--tenant", "acme", "--dry-run")
        assert "acme: secrets per data key version — v1: 2, v2: 1" in out


def test_dry_run_changes_nothing(acme):
    with override_settings(VMCP_MASTER_KEYS=OLD):
        _fill(acme, 1)
    with override_settings(VMCP_MASTER_KEYS=f"{NEW},{OLD}"):
        out = _rotate("--tenant", "acme", "--dry-run", "--data-keys")
        assert "acme: 1 data key(s) would be re-wrapped" in out
        with tenant_context(acme):
            assert list(DataKey.objects.values_list("version", "master_version")) == [(1, 1)]
            assert not AuditEvent.objects.filter(event_type=EventType.VAULT_ROTATED).exists()


def test_unknown_tenant_and_bad_batch_size_are_refused(acme):
    with pytest.raises(CommandError, match="No tenant"):
        _rotate("--tenant", "nope")
    with pytest.raises(CommandError, match="batch-size"):
        _rotate("--batch-size", "0")


def test_help_explains_the_options(capsys):
    with pytest.raises(SystemExit):
        call_command("vault_rotate", "--help")
    text = capsys.readouterr().out
    for option in ("--tenant", "--data-keys", "--batch-size", "--dry-run", "VMCP_MASTER_KEYS"):
        assert option in text
