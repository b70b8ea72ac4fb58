"""The dashboard's interactive sign-in page: settings form and the users' grants."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from tests.dashboard.conftest import client_for

from .test_oauth_api import _grant

PAGE = "/t/acme/dashboard/settings/oauth/"


def test_owner_configures_the_identity_source_and_the_secret_is_never_shown(acme):
    alice = client_for("alice")
    assert 'id="oauth-link"' in alice.get("/t/acme/dashboard/settings/").content.decode()
    response = alice.post(
        f"{PAGE}update/",
        {
            "idp_issuer": "http://127.0.0.1:9",
            "idp_client_id": "vmcp-acme",
            "idp_client_secret": "dash-s3cret",
            "idp_identifier_claim": "email",
            "idp_allowed_email_domains": "acme.test\n",
            "cimd_enabled": "on",
            "redirect_uri_patterns": "",
            "client_domains": "",
            "access_token_seconds": "900",
            "refresh_token_days": "7",
        },
    )
    assert response.status_code == 302
    html = alice.get(PAGE).content.decode()
    assert "signing users in" in html and "stored in the vault" in html
    assert "dash-s3cret" not in html
    assert "http://127.0.0.1:8000/t/acme/oauth/callback" in html
    with tenant_context(acme):
        from gateway.oauth.policy import idp_client_secret, oauth_settings_get

        row = oauth_settings_get()
        assert (row.access_token_seconds, row.dcr_enabled, row.cimd_enabled) == (900, False, True)
        assert idp_client_secret() == "dash-s3cret"


def test_bad_settings_show_the_error_and_change_nothing(acme):
    response = client_for("bob").post(
        f"{PAGE}update/",
        {"idp_identifier_claim": "email", "access_token_seconds": "5", "refresh_token_days": "7"},
    )
    assert response.status_code == 400
    assert "between 60 and 86400" in response.content.decode().lower()


def test_admin_revokes_a_grant_after_confirming_and_auditor_only_reads(acme):
    grant_id, token_id = _grant(acme, "alice@acme.test")
    audrey = client_for("audrey")
    html = audrey.get(PAGE).content.decode()
    assert "alice@acme.test" in html and "Desk" in html
    assert "/revoke/" not in html and 'id="save-oauth"' not in html
    assert audrey.post(f"{PAGE}grants/{grant_id}/revoke/", {"confirm": "yes"}).status_code == 403
    bob = client_for("bob")
    assert bob.get(f"{PAGE}grants/{grant_id}/revoke/").status_code == 200  # the confirm page
    assert bob.post(f"{PAGE}grants/{grant_id}/revoke/", {"confirm": "yes"}).status_code == 302
    with tenant_context(acme):
        from configs.models import SessionToken

        assert SessionToken.objects.get(pk=token_id).revoked_at is not None


def test_another_tenants_owner_gets_404(acme):
    grant_id, _ = _grant(acme, "alice@acme.test")
    carol = client_for("carol")
    assert carol.get(PAGE).status_code == 404
    assert carol.post(f"{PAGE}grants/{grant_id}/revoke/", {"confirm": "yes"}).status_code == 404
