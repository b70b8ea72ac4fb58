"""What already changes state leaves its trace: API keys created and revoked, and refused
authentication on a known tenant — recorded without the key that was presented."""

from __future__ import annotations

from django.forms.models import model_to_dict
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tenants.services import api_key_create, api_key_revoke
from vmcp_platform import tokens


def _events(tenant, event_type: str) -> list[AuditEvent]:  # noqa: ANN001
    with tenant_context(tenant):
        return list(AuditEvent.objects.filter(event_type=event_type).order_by("id"))


def test_creating_and_revoking_an_api_key_are_audited_in_its_tenant(acme, globex):
    created = api_key_create(tenant=acme, name="ci", created_by="user:alice@acme.test")
    api_key_revoke(tenant=acme, api_key_id=created.api_key.pk, revoked_by="user:bob@acme.test")

    [made] = [e for e in _events(acme, "apikey.created") if e.extra.get("name") == "ci"]
    [revoked] = _events(acme, "apikey.revoked")
    assert (made.actor, made.outcome, made.extra) == (
        "user:alice@acme.test",
        "ok",
        {"api_key_id": created.api_key.pk, "name": "ci"},
    )
    assert (revoked.actor, revoked.extra) == (
        "user:bob@acme.test",
        {"api_key_id": created.api_key.pk},
    )
    assert created.secret not in str(model_to_dict(made)) + str(model_to_dict(revoked))
    assert _events(globex, "apikey.revoked") == []


def test_revoking_twice_records_one_event(acme):
    created = api_key_create(tenant=acme, name="once")
    api_key_revoke(tenant=acme, api_key_id=created.api_key.pk)
    api_key_revoke(tenant=acme, api_key_id=created.api_key.pk)
    assert len(_events(acme, "apikey.revoked")) == 1


def test_a_wrong_api_key_is_audited_as_auth_failed_without_the_key(acme):
    presented = tokens.generate(tokens.API_KEY_PREFIX)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {presented}")

    assert client.get("/t/acme/api/v1/audit/events").status_code == 401

    [event] = _events(acme, "auth.failed")
    assert (event.actor, event.outcome, event.error_code) == (
        "anonymous",
        "denied",
        "invalid_api_key",
    )
    assert event.extra == {
        "reason": "invalid_api_key",
        "method": "GET",
        "path": "/t/acme/api/v1/audit/events",
        "surface": "api",
        "source": "127.0.0.1",
        "count": 1,
        "window_seconds": 300,
    }
    row = str(model_to_dict(event))
    assert presented not in row
    assert presented[:12] not in row  # not even the display prefix


def test_a_revoked_key_and_another_tenants_key_fail_on_the_tenant_they_hit(acme, globex):
    theirs = api_key_create(tenant=globex, name="globex-ci").secret
    old = api_key_create(tenant=acme, name="old")
    api_key_revoke(tenant=acme, api_key_id=old.api_key.pk)

    for secret in (theirs, old.secret):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert client.get("/t/acme/api/v1/audit/events").status_code == 401

    # Aggregated: one row for the source, reason and window, counting both attempts.
    [event] = _events(acme, "auth.failed")
    assert (event.error_code, event.extra["count"]) == ("invalid_api_key", 2)
    assert _events(globex, "auth.failed") == []


def test_a_malformed_authorization_header_is_audited_too(acme):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpodW50ZXIy")

    assert client.get("/t/acme/api/v1/audit/events").status_code == 401

    [event] = _events(acme, "auth.failed")
    assert event.extra["reason"] == "malformed_authorization_header"
    assert "dXNlcjpodW50ZXIy" not in str(model_to_dict(event))


def test_no_header_at_all_is_not_an_audited_failure(acme):
    assert APIClient().get("/t/acme/api/v1/audit/events").status_code == 401
    assert _events(acme, "auth.failed") == []
