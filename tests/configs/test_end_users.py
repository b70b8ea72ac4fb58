"""``POST end_users/revoke``: one end user cut off on every server of the tenant, audited once."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from accounts.services import account_get_or_create
from accounts.services.sessions import session_token_mint
from audit.models import AuditEvent
from configs.models import SessionToken
from configs.services.connections import connection_create
from configs.services.mcp_configs import mcp_config_create
from vault.models import ConnectedAccount

URL = "/t/acme/api/v1/end_users/revoke"


def _furnish(acme) -> dict[str, object]:  # noqa: ANN001
    with tenant_context(acme):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        gmail = connection_create(
            name="gmail",
            connector="gmail",
            auth_type="oauth2",
            settings={"client_id": "cid"},
            secrets={"client_secret": "cs"},
            actor="t",
        )
        servers = [
            mcp_config_create(
                name=name, mappings=[{"connection_name": "demo", "tools": ["*"]}], actor="t"
            )
            for name in ("one", "two")
        ]
        for server in servers:
            for who in ("alice", "alice", "bob"):
                session_token_mint(config=server, identifier=who, expiry_seconds=600, actor="t")
        account = account_get_or_create(connection=gmail, identifier="alice", actor="t")
        bobs = account_get_or_create(connection=gmail, identifier="bob", actor="t")
    return {"account": account, "bobs": bobs}


def test_revokes_every_token_of_the_user_on_every_server_and_audits_once(acme, acme_api):
    f = _furnish(acme)
    response = acme_api.post(URL, {"identifier": "alice"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "identifier": "alice",
        "revoked_tokens": 4,
        "servers": 2,
        "revoked_accounts": 0,
    }
    with tenant_context(acme):
        live = SessionToken.objects.filter(revoked_at__isnull=True)
        assert set(live.values_list("identifier", flat=True)) == {"bob"}
        assert live.count() == 2
        [event] = AuditEvent.objects.filter(event_type="token.revoked")
        assert event.identifier == "alice" and event.actor.startswith("apikey:")
        assert event.extra == {
            "scope": "end_user",
            "revoked_token_count": 4,
            "server_count": 2,
            "revoked_account_count": 0,
            "with_connected_accounts": False,
        }
        f["account"].refresh_from_db()
        assert f["account"].status != ConnectedAccount.Status.REVOKED
    # Again: nothing left to revoke, still an answer (and one more audit row saying 0).
    assert acme_api.post(URL, {"identifier": "alice"}, format="json").json()["revoked_tokens"] == 0


def test_optionally_revokes_their_connected_accounts_too(acme, acme_api, fake_providers):  # noqa: ANN001
    f = _furnish(acme)
    response = acme_api.post(
        URL, {"identifier": "alice", "connected_accounts": True}, format="json"
    )
    assert response.json()["revoked_accounts"] == 1
    with tenant_context(acme):
        f["account"].refresh_from_db()
        f["bobs"].refresh_from_db()
        assert f["account"].status == ConnectedAccount.Status.REVOKED
        assert f["bobs"].status != ConnectedAccount.Status.REVOKED


def test_a_bad_identifier_is_a_clear_error_and_changes_nothing(acme, acme_api):
    _furnish(acme)
    for bad in ({}, {"identifier": ""}, {"identifier": "x" * 256}, {"identifier": "a\x01b"}):
        response = acme_api.post(URL, bad, format="json")
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "validation_error"
    with tenant_context(acme):
        assert SessionToken.objects.filter(revoked_at__isnull=False).count() == 0
        assert not AuditEvent.objects.filter(event_type="token.revoked").exists()


def test_other_tenants_tokens_are_untouched(acme, globex, acme_api):
    _furnish(acme)
    with tenant_context(globex):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        server = mcp_config_create(
            name="g", mappings=[{"connection_name": "demo", "tools": ["*"]}], actor="t"
        )
        session_token_mint(config=server, identifier="alice", expiry_seconds=600, actor="t")
    acme_api.post(URL, {"identifier": "alice"}, format="json")
    with tenant_context(globex):
        assert SessionToken.objects.filter(revoked_at__isnull=True).count() == 1
