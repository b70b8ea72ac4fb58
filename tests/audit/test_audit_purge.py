"""Retention: a tenant keeps its audit trail exactly as long as its policy says, not a day longer,
and expired tokens, links and OAuth states are cleaned up without touching live ones."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from audit.purge import purge_expired
from audit.services import audit_record
from configs.models import SessionToken
from tests.audit.factories import ShortLived, make_event, make_events_aged
from vault.models import ConnectLink, OAuthState, Secret

NOTHING = {
    "audit_events": 0,
    "session_tokens": 0,
    "oauth_states": 0,
    "oauth_state_secrets": 0,
    "connect_links": 0,
    "oauth_authorizations": 0,
    "oauth_refresh_tokens": 0,
}


def _record(note: str) -> AuditEvent:
    return audit_record(
        event_type="config.changed", actor="user:alice@acme.test", extra={"n": note}
    )


def _remaining_notes() -> list[str]:
    return sorted(e.extra["n"] for e in AuditEvent.objects.filter(event_type="config.changed"))


def test_default_tenant_keeps_an_89_day_old_event_and_drops_a_91_day_old_one(acme):
    assert acme.audit_retention_days == 90
    with time_machine.travel("2026-01-01 12:00:00+00:00", tick=False) as traveller:
        with tenant_context(acme):
            _record("older")
            traveller.shift(timedelta(days=2))
            _record("younger")
        traveller.shift(timedelta(days=89))  # "older" is now 91 days old, "younger" 89

        counts = purge_expired(tenant=acme)

        with tenant_context(acme):
            assert _remaining_notes() == ["younger"]
        assert counts["audit_events"] == 1


def test_30_day_tenant_keeps_29_day_old_events_and_drops_31_and_89_day_old_ones(globex):
    globex.audit_retention_days = 30
    globex.save(update_fields=["audit_retention_days"])
    now = timezone.now()
    with tenant_context(globex):
        make_events_aged([29, 31, 89], now=now)

    counts = purge_expired(tenant=globex, now=now)

    with tenant_context(globex):
        assert [e.extra["age"] for e in AuditEvent.objects.filter(event_type="tool.called")] == [29]
    assert counts["audit_events"] == 2


def test_a_tenants_purge_leaves_other_tenants_alone(acme, globex):
    now = timezone.now()
    for tenant in (acme, globex):
        with tenant_context(tenant):
            make_events_aged([91], now=now)

    purge_expired(tenant=acme, now=now)

    with tenant_context(acme):
        assert not AuditEvent.objects.filter(event_type="tool.called").exists()
    with tenant_context(globex):
        assert AuditEvent.objects.filter(event_type="tool.called").count() == 1


def test_expired_tokens_links_and_states_go_while_live_ones_stay(acme):
    now = timezone.now()
    with tenant_context(acme):
        rows = ShortLived()
        long_expired_token = rows.token(expires_at=now - timedelta(days=2))
        recently_expired_token = rows.token(expires_at=now - timedelta(hours=12))
        live_token = rows.token(expires_at=now + timedelta(hours=1))
        used_link = rows.link(expires_at=now + timedelta(minutes=10), used_at=now)
        expired_link = rows.link(expires_at=now - timedelta(seconds=1))
        live_link = rows.link(expires_at=now + timedelta(minutes=10))
        used_state = rows.state(expires_at=now + timedelta(minutes=10), used_at=now)
        expired_state = rows.state(expires_at=now - timedelta(seconds=1))
        # Live state whose link was already used: the link goes, the state stays, unlinked.
        live_state = rows.state(expires_at=now + timedelta(minutes=10), link=used_link)
        orphan_verifier = Secret.objects.create(
            owner_type=Secret.OwnerType.OAUTH_STATE,
            owner_id=10**12,
            field="code_verifier",
            key_version=1,
            ciphertext=b"x",
        )
        # A connection secret whose owner id equals a purged state's id must survive.
        connection_secret = Secret.objects.create(
            owner_type=Secret.OwnerType.CONNECTION,
            owner_id=used_state.pk,
            field="client_secret",
            key_version=1,
            ciphertext=b"x",
        )

    counts = purge_expired(tenant=acme, now=now)

    assert counts == {
        "audit_events": 0,
        "session_tokens": 1,
        "oauth_states": 2,
        "oauth_state_secrets": 3,
        "connect_links": 2,
        "oauth_authorizations": 0,
        "oauth_refresh_tokens": 0,
    }
    with tenant_context(acme):
        assert set(SessionToken.objects.values_list("pk", flat=True)) == {
            recently_expired_token.pk,
            live_token.pk,
        }
        assert not SessionToken.objects.filter(pk=long_expired_token.pk).exists()
        assert set(ConnectLink.objects.values_list("pk", flat=True)) == {live_link.pk}
        assert not ConnectLink.objects.filter(pk=expired_link.pk).exists()
        assert set(OAuthState.objects.values_list("pk", flat=True)) == {live_state.pk}
        assert OAuthState.objects.get(pk=live_state.pk).link_id is None
        assert not OAuthState.objects.filter(pk=expired_state.pk).exists()
        assert set(Secret.objects.values_list("owner_type", "owner_id")) == {
            (Secret.OwnerType.OAUTH_STATE, live_state.pk),
            (Secret.OwnerType.CONNECTION, connection_secret.owner_id),
        }
        assert not Secret.objects.filter(pk=orphan_verifier.pk).exists()


def test_dry_run_counts_what_a_purge_deletes_and_deletes_nothing(acme):
    now = timezone.now()
    with tenant_context(acme):
        make_events_aged([10, 95, 120], now=now)
        rows = ShortLived()
        rows.token(expires_at=now - timedelta(days=3))
        rows.state(expires_at=now - timedelta(minutes=1))
        rows.link(expires_at=now - timedelta(minutes=1))

    predicted = purge_expired(tenant=acme, now=now, dry_run=True)
    with tenant_context(acme):
        assert AuditEvent.objects.filter(event_type="tool.called").count() == 3
        assert OAuthState.objects.count() == 1
    deleted = purge_expired(tenant=acme, now=now)

    assert (
        predicted
        == deleted
        == {
            "audit_events": 2,
            "session_tokens": 1,
            "oauth_states": 1,
            "oauth_state_secrets": 1,
            "connect_links": 1,
            "oauth_authorizations": 0,
            "oauth_refresh_tokens": 0,
        }
    )


def test_purge_in_small_batches_deletes_everything_due_and_a_second_run_finds_nothing(acme):
    now = timezone.now()
    with tenant_context(acme):
        make_events_aged([100] * 23 + [1] * 4, now=now)

    first = purge_expired(tenant=acme, now=now, batch_size=5)
    second = purge_expired(tenant=acme, now=now, batch_size=5)

    assert first["audit_events"] == 23
    assert second == NOTHING
    with tenant_context(acme):
        assert AuditEvent.objects.filter(event_type="tool.called").count() == 4


def test_two_purges_at_once_delete_each_row_exactly_once(committed_tenant, django_db_blocker):
    tenant = committed_tenant("purge-race")
    now = timezone.now()
    with django_db_blocker.unblock():
        with tenant_context(tenant):
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    occurred_at=now - timedelta(days=100 + i % 7),
                    event_type="tool.called",
                    identifier=f"user-{i}",
                )
                for i in range(1200)
            )
            make_event(occurred_at=now - timedelta(days=1), identifier="keeper")
            rows = ShortLived()
            for _ in range(40):
                rows.token(expires_at=now - timedelta(days=2))
                rows.state(
                    expires_at=now - timedelta(minutes=1),
                    link=rows.link(expires_at=now - timedelta(minutes=1)),
                )
        connection.set_schema_to_public()

        barrier = threading.Barrier(2)
        results: list[dict[str, int]] = []
        errors: list[BaseException] = []

        def purge() -> None:
            try:
                barrier.wait()
                results.append(purge_expired(tenant=tenant, now=now, batch_size=37))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=purge) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        assert len(results) == 2
        totals = {kind: results[0][kind] + results[1][kind] for kind in NOTHING}
        assert totals == {
            "audit_events": 1200,
            "session_tokens": 40,
            "oauth_states": 40,
            "oauth_state_secrets": 40,
            "connect_links": 40,
            "oauth_authorizations": 0,
            "oauth_refresh_tokens": 0,
        }
        with tenant_context(tenant):
            assert list(AuditEvent.objects.values_list("identifier", flat=True)) == ["keeper"]
            assert SessionToken.objects.count() == 0
            assert OAuthState.objects.count() == ConnectLink.objects.count() == 0
            assert Secret.objects.count() == 0
        connection.set_schema_to_public()


def test_purge_expired_command_prints_per_tenant_counts_and_honours_dry_run(acme):
    now = timezone.now()
    with tenant_context(acme):
        make_events_aged([91, 92], now=now)

    dry = StringIO()
    call_command("purge_expired", "--tenant", "acme", "--dry-run", stdout=dry)
    assert dry.getvalue().splitlines() == [
        "acme: would delete 2 (audit_events=2, session_tokens=0, oauth_states=0, "
        "oauth_state_secrets=0, connect_links=0, oauth_authorizations=0, "
        "oauth_refresh_tokens=0)",
        "total: would delete 2",
    ]
    with tenant_context(acme):
        assert AuditEvent.objects.filter(event_type="tool.called").count() == 2

    real = StringIO()
    call_command("purge_expired", "--tenant", "acme", stdout=real)
    assert real.getvalue().splitlines()[0].startswith("acme: deleted 2 (audit_events=2,")
    with tenant_context(acme):
        assert AuditEvent.objects.filter(event_type="tool.called").count() == 0


def test_purge_expired_command_covers_every_tenant_by_default(acme, globex):
    out = StringIO()
    call_command("purge_expired", "--dry-run", stdout=out)
    slugs = [line.split(":")[0] for line in out.getvalue().splitlines()]
    assert {"acme", "globex", "total"} <= set(slugs)


def test_purge_expired_command_refuses_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with the slug 'nope'"):
        call_command("purge_expired", "--tenant", "nope")
