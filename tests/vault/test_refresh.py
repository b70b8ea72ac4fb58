"""Token refresh: before use, once per expiry even under concurrency, never deleting accounts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.services import account_credential_for_call
from accounts.services.accounts import account_tokens
from accounts.tasks import refresh_expiring_accounts
from audit.models import AuditEvent
from tests.fakes import plugin as fakes_plugin
from tests.vault.accounts_support import active_account, oauth_connection
from vault.models import ConnectedAccount
from vmcp_platform.errors import ApplicationError

fake_providers_server = fakes_plugin.fake_providers_server
fake_providers = fakes_plugin.fake_providers


def _refreshes(fake) -> list:  # noqa: ANN001
    return [r for r in fake.token_requests if r.grant_type == "refresh_token"]


def _events(event_type: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


@pytest.mark.parametrize("connector", ["gmail", "slack", "github"])
def test_token_expiring_within_five_minutes_is_refreshed_before_use(
    in_acme, fake_providers, connector
):
    connection = oauth_connection(fake_providers, connector)
    account, old = active_account(fake_providers, connection, "alice", expires_in=120)

    token = account_credential_for_call(connection=connection, identifier="alice")

    assert token != old["access_token"]
    assert [(r.outcome, r.user) for r in _refreshes(fake_providers)] == [("ok", "alice")]
    account.refresh_from_db()
    assert account.status == ConnectedAccount.Status.ACTIVE
    assert account.token_expires_at > timezone.now() + timedelta(minutes=50)
    assert account.refreshed_at is not None
    assert account_tokens(account)["refresh_token"] == old["refresh_token"]
    assert [e.account_id for e in _events("account.refreshed")] == [account.pk]
    # The new token works at the provider for that user; the next call needs no refresh.
    assert account_credential_for_call(connection=connection, identifier="alice") == token
    assert len(_refreshes(fake_providers)) == 1


def test_token_with_time_left_is_used_without_refreshing(in_acme, fake_providers):
    connection = oauth_connection(fake_providers, "gmail")
    _, issued = active_account(fake_providers, connection, "alice", expires_in=600)

    token = account_credential_for_call(connection=connection, identifier="alice")

    assert token == issued["access_token"]
    assert fake_providers.token_requests == []


def test_rotated_refresh_token_is_saved(in_acme, fake_providers):
    fake_providers.rotate_refresh_tokens = True
    connection = oauth_connection(fake_providers, "gmail")
    account, old = active_account(fake_providers, connection, "alice", expires_in=60)

    account_credential_for_call(connection=connection, identifier="alice")

    stored = account_tokens(account)
    assert stored["refresh_token"] != old["refresh_token"]
    assert old["refresh_token"] in fake_providers.revoked
    # The saved (rotated) token works for the next refresh.
    ConnectedAccount.objects.filter(pk=account.pk).update(token_expires_at=timezone.now())
    account_credential_for_call(connection=connection, identifier="alice")
    assert [r.outcome for r in _refreshes(fake_providers)] == ["ok", "ok"]


@pytest.mark.parametrize("connector", ["gmail", "slack", "github"])
def test_invalid_grant_marks_the_account_expired_without_deleting_it(
    in_acme, fake_providers, connector
):
    connection = oauth_connection(fake_providers, connector)
    account, _ = active_account(fake_providers, connection, "alice", expires_in=30)
    fake_providers.revoke_user(connector, "alice")

    with pytest.raises(ApplicationError) as excinfo:
        account_credential_for_call(connection=connection, identifier="alice")

    assert excinfo.value.code == "account_expired"
    assert excinfo.value.status == 409
    account.refresh_from_db()
    assert account.status == ConnectedAccount.Status.EXPIRED
    assert "refused the refresh token" in account.last_error
    assert "reconnect" in account.last_error
    assert account_tokens(account) is not None  # kept: never deleted
    [event] = _events("account.refresh_failed")
    assert (event.outcome, event.error_code) == ("error", "invalid_grant")
    assert len(_refreshes(fake_providers)) == 1
    # Later calls fail fast, without asking the provider again.
    with pytest.raises(ApplicationError) as again:
        account_credential_for_call(connection=connection, identifier="alice")
    assert again.value.code == "account_expired"
    assert len(_refreshes(fake_providers)) == 1


def test_server_errors_are_retried_with_backoff(in_acme, fake_providers):
    connection = oauth_connection(fake_providers, "gmail")
    account, old = active_account(fake_providers, connection, "alice", expires_in=0)
    fake_providers.fail_next_token_requests = 2

    token = account_credential_for_call(connection=connection, identifier="alice")

    assert token != old["access_token"]
    outcomes = [r.outcome for r in _refreshes(fake_providers)]
    assert outcomes == ["server_error", "server_error", "ok"]
    times = [r.at for r in _refreshes(fake_providers)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert gaps[1] > gaps[0] >= 0.2
    account.refresh_from_db()
    assert account.status == ConnectedAccount.Status.ACTIVE
    assert account.last_error == ""


def test_provider_down_keeps_account_active_and_reports_a_clear_error(in_acme, fake_providers):
    connection = oauth_connection(fake_providers, "gmail")
    account, _ = active_account(fake_providers, connection, "alice", expires_in=0)
    fake_providers.fail_next_token_requests = 3

    with pytest.raises(ApplicationError) as excinfo:
        account_credential_for_call(connection=connection, identifier="alice")

    assert excinfo.value.code == "refresh_failed"
    assert excinfo.value.status == 502
    account.refresh_from_db()
    assert account.status == ConnectedAccount.Status.ACTIVE
    assert "HTTP 503" in account.last_error
    assert [e.error_code for e in _events("account.refresh_failed")] == ["provider_unavailable"]


def test_provider_down_still_serves_a_token_that_has_not_expired(in_acme, fake_providers):
    connection = oauth_connection(fake_providers, "gmail")
    _, issued = active_account(fake_providers, connection, "alice", expires_in=120)
    fake_providers.fail_next_token_requests = 3

    token = account_credential_for_call(connection=connection, identifier="alice")

    assert token == issued["access_token"]


def test_refresh_task_refreshes_only_accounts_expiring_soon(acme, fake_providers):
    with tenant_context(acme):
        connection = oauth_connection(fake_providers, "gmail")
        soon, _ = active_account(fake_providers, connection, "alice", expires_in=300)
        active_account(fake_providers, connection, "bob", expires_in=3600)

    counts = refresh_expiring_accounts(acme.pk)

    assert counts == {"refreshed": 1, "failed": 0}
    assert [r.user for r in _refreshes(fake_providers)] == ["alice"]
    with tenant_context(acme):
        soon.refresh_from_db()
        assert soon.token_expires_at > timezone.now() + timedelta(minutes=50)


def test_twenty_concurrent_callers_cause_exactly_one_refresh(
    live_tenant, django_db_blocker, fake_providers
):
    fake_providers.token_latency = 0.3
    with django_db_blocker.unblock():
        with tenant_context(live_tenant):
            connection = oauth_connection(fake_providers, "gmail")
            account, old = active_account(fake_providers, connection, "alice", expires_in=60)
        barrier = threading.Barrier(20)

        def call() -> str:
            try:
                with tenant_context(live_tenant):
                    barrier.wait(timeout=10)
                    return account_credential_for_call(connection=connection, identifier="alice")
            finally:
                db.close()

        with ThreadPoolExecutor(max_workers=20) as pool:
            tokens = list(pool.map(lambda _: call(), range(20)))

        with tenant_context(live_tenant):
            account.refresh_from_db()
            refreshed_events = len(_events("account.refreshed"))

    assert len(_refreshes(fake_providers)) == 1
    assert len(set(tokens)) == 1
    assert tokens[0] != old["access_token"]
    assert account.status == ConnectedAccount.Status.ACTIVE
    assert refreshed_events == 1
