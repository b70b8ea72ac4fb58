"""The REST API throttles failed API-key authentications per source address, before the key is
looked up, and audits them in aggregate: one row per source, reason and window, with a count."""

from __future__ import annotations

from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tenants.services import api_key_create
from vmcp_platform import tokens

ATTACKER = "203.0.113.77"
NEIGHBOUR = "198.51.100.8"
PATH = "/t/acme/api/v1/audit/events"


def _client(secret: str, source: str, **extra: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=source, **extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_flood_of_bad_api_keys_is_throttled_per_source_and_audited_once(acme, globex, settings):
    settings.VMCP_AUTH_FAILURES_PER_WINDOW = 3
    bad = tokens.generate(tokens.API_KEY_PREFIX)
    good = api_key_create(tenant=acme, name="ci").secret
    for _ in range(3):
        assert _client(bad, ATTACKER).get(PATH).status_code == 401
    throttled = _client(bad, ATTACKER).get(PATH)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "rate_limited"
    # A valid key from the same (perhaps shared) address still gets in.
    assert _client(good, ATTACKER).get(PATH).status_code == 200
    # X-Forwarded-For is not trusted unless VMCP_TRUSTED_PROXY_COUNT says so.
    spoofed = _client(bad, ATTACKER, HTTP_X_FORWARDED_FOR=NEIGHBOUR).get(PATH)
    assert spoofed.status_code == 429
    # Another source is not affected.
    assert _client(good, NEIGHBOUR).get(PATH).status_code == 200

    with tenant_context(acme):
        [row] = AuditEvent.objects.filter(event_type="auth.failed")
    assert (row.error_code, row.extra["source"], row.extra["count"]) == (
        "invalid_api_key",
        ATTACKER,
        3,
    )
    assert row.extra["throttled"] is True
    assert bad not in str(row.extra)
    with tenant_context(globex):
        assert not AuditEvent.objects.filter(event_type="auth.failed").exists()


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_source(acme, settings):
    settings.VMCP_AUTH_FAILURES_PER_WINDOW = 2
    settings.VMCP_TRUSTED_PROXY_COUNT = 1
    bad = tokens.generate(tokens.API_KEY_PREFIX)
    good = api_key_create(tenant=acme, name="ci").secret
    proxy = "10.0.0.5"
    for _ in range(2):
        # The client's own claim (first entry) is ignored; the proxy's (last) one counts.
        forwarded = f"192.0.2.1, {ATTACKER}"
        assert _client(bad, proxy, HTTP_X_FORWARDED_FOR=forwarded).get(PATH).status_code == 401
    assert _client(bad, proxy, HTTP_X_FORWARDED_FOR=ATTACKER).get(PATH).status_code == 429
    assert _client(bad, proxy, HTTP_X_FORWARDED_FOR=NEIGHBOUR).get(PATH).status_code == 401
    assert _client(good, proxy, HTTP_X_FORWARDED_FOR=ATTACKER).get(PATH).status_code == 200
