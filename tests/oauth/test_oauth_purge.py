"""Spent authorizations and expired refresh tokens leave with the nightly purge; a used but
unexpired refresh token stays, so its replay is still recognised."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import tenant_context

from audit.purge import purge_expired


def test_purge_removes_old_authorizations_and_expired_refresh_tokens_only(acme):
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create
    from gateway.models import OAuthAuthorization, OAuthClient, OAuthGrant, OAuthRefreshToken

    now = timezone.now()
    with tenant_context(acme):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        config = mcp_config_create(
            name="srv", mappings=[{"connection_name": "demo", "tools": ["demo_add"]}], actor="t"
        )
        client = OAuthClient.objects.create(client_id="vmcp_dcr_p", kind="dcr", redirect_uris=[])
        grant = OAuthGrant.objects.create(client=client, config=config, identifier="alice")
        for n, age in enumerate((timedelta(days=2), timedelta(hours=1))):
            OAuthAuthorization.objects.create(
                client=client,
                config=config,
                redirect_uri="http://127.0.0.1:1/cb",
                code_challenge="c" * 43,
                browser_hash="b" * 64,
                idp_state_hash=str(n) * 64,
                idp_nonce="n",
                expires_at=now - age,
            )
        expired, used_live = (
            OAuthRefreshToken.objects.create(
                grant=grant,
                token_hash=ch * 64,
                access_token_id="6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11",
                expires_at=now + delta,
                used_at=now - timedelta(minutes=5),
            )
            for ch, delta in (("e", -timedelta(seconds=1)), ("u", timedelta(days=3)))
        )

    counts = purge_expired(tenant=acme, now=now)

    assert (counts["oauth_authorizations"], counts["oauth_refresh_tokens"]) == (1, 1)
    with tenant_context(acme):
        assert OAuthAuthorization.objects.count() == 1
        assert list(OAuthRefreshToken.objects.values_list("pk", flat=True)) == [used_live.pk]
        assert OAuthGrant.objects.filter(pk=grant.pk).exists()
    assert expired.pk != used_live.pk
