"""The tenant's OAuth settings and its users' grants over the REST API, and what the metadata
documents say with and without an identity source."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from audit.models import AuditEvent

SETTINGS = "/t/acme/api/v1/oauth/settings"
CONFIG_ID = "6f1d2a52-6e5b-4a55-9a49-1d8f5e0e7c11"
IDP = {"idp_issuer": "http://127.0.0.1:9/", "idp_client_id": "vmcp-acme"}
WELL_KNOWN = [
    "/.well-known/oauth-authorization-server/t/acme/oauth",
    "/.well-known/openid-configuration/t/acme/oauth",
    "/t/acme/oauth/.well-known/oauth-authorization-server",
    "/t/acme/oauth/.well-known/openid-configuration",
    f"/.well-known/oauth-authorization-server/t/acme/mcp/{CONFIG_ID}",
    f"/.well-known/openid-configuration/t/acme/mcp/{CONFIG_ID}",
]


def test_without_an_identity_source_metadata_says_the_backend_issues_tokens(client, acme):
    prm = client.get(f"/.well-known/oauth-protected-resource/t/acme/mcp/{CONFIG_ID}").json()
    assert prm["authorization_servers"] == []
    assert prm["vmcp_token_issuance"]["method"] == "backend_minted_session_token"
    for path in WELL_KNOWN + ["/.well-known/oauth-authorization-server"]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
    body = client.get(WELL_KNOWN[0]).json()
    assert body["error"] == "interactive_sign_in_not_configured"
    assert "/t/acme/api/v1/mcp/configs/<id>/tokens" in body["error_description"]
    register = client.post("/t/acme/oauth/register", {}, content_type="application/json")
    assert register.status_code == 404
    assert register.json()["error"] == "interactive_sign_in_not_configured"


def test_an_identity_source_makes_every_well_known_path_name_the_tenants_issuer(
    client, acme_api, acme
):
    response = acme_api.patch(SETTINGS, {**IDP, "idp_client_secret": "s3cret-value"}, format="json")
    assert response.status_code == 200, response.json()
    issuer = "http://127.0.0.1:8000/t/acme/oauth"
    for path in WELL_KNOWN:
        body = client.get(path).json()
        assert body["issuer"] == issuer, path
        assert body["code_challenge_methods_supported"] == ["S256"]
        assert body["registration_endpoint"] == f"{issuer}/register"
        assert body["client_id_metadata_document_supported"] is True
    prm = client.get(f"/.well-known/oauth-protected-resource/t/acme/mcp/{CONFIG_ID}").json()
    assert prm["authorization_servers"] == [issuer]
    assert prm["scopes_supported"] == ["mcp:tools"]
    # Switching DCR off removes the registration endpoint and refuses registrations.
    acme_api.patch(SETTINGS, {"dcr_enabled": False}, format="json")
    assert "registration_endpoint" not in client.get(WELL_KNOWN[0]).json()
    refused = client.post(
        "/t/acme/oauth/register",
        {"redirect_uris": ["http://127.0.0.1:1/cb"]},
        content_type="application/json",
    )
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied"


def test_settings_keep_the_secret_write_only_and_audit_the_change(acme_api, acme):
    response = acme_api.patch(
        SETTINGS,
        {**IDP, "idp_client_secret": "s3cret-value", "idp_allowed_email_domains": ["Acme.test"]},
        format="json",
    )
    body = response.json()
    assert "s3cret-value" not in response.content.decode()
    assert body["idp_client_secret_set"] is True
    assert body["interactive_sign_in"] is True
    assert body["idp_issuer"] == "http://127.0.0.1:9"
    assert body["idp_allowed_email_domains"] == ["acme.test"]
    assert body["idp_redirect_uri"] == "http://127.0.0.1:8000/t/acme/oauth/callback"
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type="settings.changed").latest("id")
        assert event.extra["area"] == "oauth"
        assert "idp_client_secret" in event.extra["fields"]
        assert "s3cret-value" not in str(event.extra)


@pytest.mark.parametrize(
    "change",
    [
        {"idp_issuer": "http://idp.example.com"},  # not https
        {"idp_issuer": "https://10.0.0.1"},  # private
        {"access_token_seconds": 10},
        {"refresh_token_days": 0},
        {"redirect_uri_patterns": ["ok", "bad\x00"]},
    ],
)
def test_bad_settings_are_refused_and_change_nothing(acme_api, change):
    before = acme_api.get(SETTINGS).json()
    response = acme_api.patch(SETTINGS, change, format="json")
    assert response.status_code == 400
    assert "error" in response.json()
    assert acme_api.get(SETTINGS).json() == before


def test_the_settings_api_needs_a_tenant_api_key(acme):
    from rest_framework.test import APIClient

    assert APIClient().get(SETTINGS).status_code == 401


def _grant(tenant, identifier: str) -> tuple[int, str]:  # noqa: ANN001
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create
    from gateway.models import OAuthClient, OAuthGrant, OAuthRefreshToken

    with tenant_context(tenant):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        config = mcp_config_create(
            name="srv", mappings=[{"connection_name": "demo", "tools": ["demo_add"]}], actor="t"
        )
        client = OAuthClient.objects.create(
            client_id="vmcp_dcr_x", kind="dcr", client_name="Desk", redirect_uris=[]
        )
        grant = OAuthGrant.objects.create(client=client, config=config, identifier=identifier)
        minted = session_token_mint(config=config, identifier=identifier, actor="t")
        from django.utils import timezone

        OAuthRefreshToken.objects.create(
            grant=grant,
            token_hash="h" * 64,
            access_token_id=minted.token.pk,
            expires_at=timezone.now(),
        )
        return grant.pk, str(minted.token.pk)


def test_grants_are_listed_per_user_and_revoking_one_revokes_its_tokens(acme, acme_api, globex_api):
    grant_id, token_id = _grant(acme, "alice@acme.test")
    listed = acme_api.get("/t/acme/api/v1/oauth/grants", {"identifier": "alice@acme.test"})
    assert [g["id"] for g in listed.json()["data"]] == [grant_id]
    assert listed.json()["data"][0]["client_name"] == "Desk"
    assert listed.json()["data"][0]["config_name"] == "srv"
    assert acme_api.get("/t/acme/api/v1/oauth/grants", {"identifier": "bob"}).json()["data"] == []
    # Another tenant sees nothing and cannot revoke it.
    assert globex_api.get("/t/globex/api/v1/oauth/grants").json()["data"] == []
    assert globex_api.delete(f"/t/globex/api/v1/oauth/grants/{grant_id}").status_code == 404
    assert acme_api.delete(f"/t/acme/api/v1/oauth/grants/{grant_id}").status_code == 204
    with tenant_context(acme):
        from configs.models import SessionToken

        assert SessionToken.objects.get(pk=token_id).revoked_at is not None
        assert AuditEvent.objects.filter(event_type="oauth.revoked").count() == 1
    again = acme_api.post(
        "/t/acme/api/v1/oauth/grants/revoke", {"identifier": "alice@acme.test"}, format="json"
    )
    assert again.json() == {"revoked": 0}


def test_a_source_that_keeps_presenting_bad_credentials_is_slowed_down(client, acme_api, settings):
    acme_api.patch(SETTINGS, IDP, format="json")
    settings.VMCP_AUTH_FAILURES_PER_WINDOW = 2
    bad = {"grant_type": "refresh_token", "client_id": "nobody", "refresh_token": "x"}
    statuses = [client.post("/t/acme/oauth/token", bad).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    refused = client.post("/t/acme/oauth/token", bad)
    assert refused.json()["error"] == "slow_down" and int(refused["Retry-After"]) > 0


def test_an_unknown_tenants_oauth_urls_answer_json(client, db):
    for path in (
        "/t/nope/oauth/token",
        "/t/nope/oauth/authorize",
        "/.well-known/oauth-authorization-server/t/nope/oauth",
        f"/.well-known/oauth-protected-resource/t/nope/mcp/{CONFIG_ID}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path
