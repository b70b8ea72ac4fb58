"""Connections over REST: validated against the connector, secrets write-only and in the vault,
audited, paginated, and invisible across tenants."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import tenant_context

from audit.models import AuditEvent, EventType
from configs.models import Connection
from vault.models import ConnectedAccount, Secret
from vault.secrets import secret_get, secret_put

BASE = "/t/acme/api/v1"
CLIENT_SECRET = "gocspx-client-secret-4c1b2a"
SHARED = "Bearer upstream-shared-token-9d8e"


def _gmail(name: str = "gmail", **extra: object) -> dict:
    body = {
        "name": name,
        "connector": "gmail",
        "auth_type": "oauth2",
        "settings": {"client_id": "cid.apps.googleusercontent.com", "scopes": ["openid"]},
        "secrets": {"client_secret": CLIENT_SECRET},
    }
    body.update(extra)
    return body


def _post(api, body: dict):  # noqa: ANN001
    return api.post(f"{BASE}/connections", body, format="json")


def _error(response, status: int, code: str = "validation_error") -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def test_admin_creates_an_oauth_connection_and_the_secret_goes_to_the_vault(acme, acme_api):
    response = _post(acme_api, _gmail())
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "gmail" and body["connector"] == "gmail"
    assert body["auth_type"] == "oauth2"
    assert body["settings"] == {"client_id": "cid.apps.googleusercontent.com", "scopes": ["openid"]}
    assert body["secrets"]["client_secret"]["set"] is True
    assert body["secrets"]["client_secret"]["updated_at"]
    assert body["redirect_uri"] == "http://127.0.0.1:8000/oauth/callback"
    assert CLIENT_SECRET not in response.content.decode()
    with tenant_context(acme):
        connection = Connection.objects.get(name="gmail")
        assert CLIENT_SECRET not in json.dumps(connection.settings)
        assert (
            secret_get(
                owner_type=Secret.OwnerType.CONNECTION,
                owner_id=connection.pk,
                field="client_secret",
            )
            == CLIENT_SECRET
        )
        event = AuditEvent.objects.get(event_type=EventType.CONNECTION_CREATED)
        assert event.connection_name == "gmail"
        assert CLIENT_SECRET not in json.dumps(event.extra)


def test_secrets_never_appear_in_get_list_or_patch_responses(acme_api):
    _post(acme_api, _gmail())
    responses = [
        acme_api.get(f"{BASE}/connections"),
        acme_api.get(f"{BASE}/connections/gmail"),
        acme_api.patch(
            f"{BASE}/connections/gmail",
            {"secrets": {"client_secret": CLIENT_SECRET + "-v2"}},
            format="json",
        ),
    ]
    for response in responses:
        assert response.status_code == 200
        assert CLIENT_SECRET not in response.content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_gmail(name="Bad Name"), "name"),
        (_gmail(name=""), "name"),
        (_gmail(connector="nosuch"), "connector"),
        (_gmail(auth_type="shared_header"), "auth_type"),
        (_gmail(secrets={}), "client_secret"),
        (_gmail(settings={"scopes": ["x"]}), "client_id"),
        (_gmail(settings={"client_id": "c", "scopes": "openid email"}), "scopes"),
        (_gmail(settings={"client_id": "c", "scopes": ["has space"]}), "scopes"),
        (_gmail(settings={"client_id": "c", "token_url": "ftp://x/token"}), "token_url"),
        (_gmail(settings={"client_id": "c", "api_base_url": "/relative"}), "api_base_url"),
        (_gmail(settings={"client_id": "c", "colour": "blue"}), "colour"),
        (_gmail(settings={"client_id": "c", "server_url": "https://x"}), "server_url"),
        (_gmail(secrets={"client_secret": "s", "extra": "x"}), "extra"),
        (
            {"name": "d", "connector": "demo", "auth_type": "oauth2", "settings": {}},
            "auth_type",
        ),
        (
            {"name": "m", "connector": "mcp", "auth_type": "oauth1", "settings": {}},
            "auth_type",
        ),
        ({"name": "m", "connector": "mcp", "auth_type": "none", "settings": {}}, "server_url"),
        (
            {
                "name": "m",
                "connector": "mcp",
                "auth_type": "shared_header",
                "settings": {"server_url": "http://127.0.0.1:9/mcp"},
            },
            "shared_header",
        ),
        (
            {
                "name": "m",
                "connector": "mcp",
                "auth_type": "api_key",
                "settings": {"server_url": "http://127.0.0.1:9/mcp", "header_name": "Host"},
            },
            "header_name",
        ),
    ],
)
def test_invalid_connections_are_refused_with_a_clear_error(acme_api, body, field):
    response = _post(acme_api, body)
    assert response.status_code == 400
    error = response.json()["error"]
    # unsafe_url is a validation_error subclass naming the URL problem.
    assert error["code"] in {"validation_error", "unsafe_url"}
    assert field in (error["message"] + json.dumps(error["details"]))
    assert acme_api.get(f"{BASE}/connections").json()["data"] == []


def test_auth_types_allowed_per_connector(acme_api):
    github_pat = {"name": "gh", "connector": "github", "auth_type": "api_key", "settings": {}}
    assert _post(acme_api, github_pat).status_code == 201
    demo = {"name": "demo", "connector": "demo", "auth_type": "none"}
    assert _post(acme_api, demo).status_code == 201
    upstream = {
        "name": "up",
        "connector": "mcp",
        "auth_type": "shared_header",
        "settings": {"server_url": "http://127.0.0.1:9/mcp", "header_name": "X-Api-Key"},
        "secrets": {"shared_header": SHARED},
    }
    response = _post(acme_api, upstream)
    assert response.status_code == 201
    assert response.json()["secrets"]["shared_header"]["set"] is True
    assert SHARED not in response.content.decode()


def test_duplicate_name_is_a_conflict(acme_api):
    assert _post(acme_api, _gmail()).status_code == 201
    _error(_post(acme_api, _gmail()), 409, "conflict")


def test_patch_merges_settings_and_keeps_name_and_connector_fixed(acme, acme_api):
    _post(acme_api, _gmail())
    url = f"{BASE}/connections/gmail"
    response = acme_api.patch(
        url, {"settings": {"scopes": ["openid", "email"], "token_url": None}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["settings"] == {
        "client_id": "cid.apps.googleusercontent.com",
        "scopes": ["openid", "email"],
    }
    _error(acme_api.patch(url, {"name": "other"}, format="json"), 400)
    _error(acme_api.patch(url, {"connector": "slack"}, format="json"), 400)
    _error(acme_api.patch(url, {"settings": {"client_id": None}}, format="json"), 400)
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type=EventType.CONNECTION_CHANGED).get()
        assert event.extra["settings_changed"] == ["scopes"]


def test_delete_destroys_the_connection_its_accounts_and_their_secrets(acme, acme_api):
    _post(acme_api, _gmail())
    with tenant_context(acme):
        connection = Connection.objects.get(name="gmail")
        account = ConnectedAccount.objects.create(connection=connection, identifier="alice")
        secret_put(
            owner_type=Secret.OwnerType.ACCOUNT,
            owner_id=account.pk,
            field="oauth_tokens",
            value='{"access_token": "ya29.x"}',
        )
        assert Secret.objects.count() == 2
    response = acme_api.delete(f"{BASE}/connections/gmail")
    assert response.status_code == 204
    assert acme_api.get(f"{BASE}/connections/gmail").status_code == 404
    with tenant_context(acme):
        assert Secret.objects.count() == 0
        assert not ConnectedAccount.objects.exists()
        event = AuditEvent.objects.get(event_type=EventType.CONNECTION_DELETED)
        assert event.extra["accounts_deleted"] == 1


def test_list_is_cursor_paginated_and_filterable_by_connector(acme_api):
    for i in range(5):
        _post(acme_api, _gmail(name=f"g{i}"))
    _post(acme_api, {"name": "demo", "connector": "demo", "auth_type": "none"})
    first = acme_api.get(f"{BASE}/connections", {"limit": 2}).json()
    assert [c["name"] for c in first["data"]] == ["demo", "g0"]
    second = acme_api.get(f"{BASE}/connections", {"limit": 2, "cursor": first["next_cursor"]})
    assert [c["name"] for c in second.json()["data"]] == ["g1", "g2"]
    last = acme_api.get(
        f"{BASE}/connections", {"limit": 2, "cursor": second.json()["next_cursor"]}
    ).json()
    assert [c["name"] for c in last["data"]] == ["g3", "g4"] and last["next_cursor"] is None
    only_demo = acme_api.get(f"{BASE}/connections", {"connector": "demo"}).json()
    assert [c["name"] for c in only_demo["data"]] == ["demo"]
    _error(acme_api.get(f"{BASE}/connections", {"cursor": "!!garbage"}), 400)


def test_another_tenants_connection_does_not_exist_here(acme_api, globex_api):
    _post(acme_api, _gmail(name="acme-only"))
    globex = "/t/globex/api/v1/connections/acme-only"
    _error(globex_api.get(globex), 404, "not_found")
    _error(globex_api.patch(globex, {"settings": {"scopes": []}}, format="json"), 404, "not_found")
    _error(globex_api.delete(globex), 404, "not_found")
    _error(globex_api.get(f"{globex}/tools"), 404, "not_found")
    _error(globex_api.post(f"{globex}/sync"), 404, "not_found")
    assert globex_api.get("/t/globex/api/v1/connections").json()["data"] == []
    # And acme's own key cannot be used on globex's path at all.
    assert acme_api.get("/t/globex/api/v1/connections").status_code in (401, 403)
    assert acme_api.get(f"{BASE}/connections/acme-only").status_code == 200


def test_connector_catalog_and_tools(acme_api):
    catalog = acme_api.get(f"{BASE}/connectors").json()
    slugs = [c["slug"] for c in catalog["data"]]
    assert {"gmail", "googlecalendar", "slack", "github", "demo", "mcp"} <= set(slugs)
    assert catalog["next_cursor"] is None
    github = next(c for c in catalog["data"] if c["slug"] == "github")
    assert github["auth_types"] == ["api_key", "oauth2"]
    tools = acme_api.get(f"{BASE}/connectors/demo/tools").json()["data"]
    assert "demo_echo" in [t["name"] for t in tools]
    assert all("inputSchema" in t for t in tools)
    assert acme_api.get(f"{BASE}/connectors/mcp/tools").json()["data"] == []
    _error(acme_api.get(f"{BASE}/connectors/nosuch/tools"), 404, "not_found")


def test_connection_tools_of_a_builtin_are_its_catalog_and_sync_is_a_no_op(acme_api):
    _post(acme_api, {"name": "demo", "connector": "demo", "auth_type": "none"})
    tools = acme_api.get(f"{BASE}/connections/demo/tools").json()["data"]
    assert "demo_add" in [t["name"] for t in tools]
    synced = acme_api.post(f"{BASE}/connections/demo/sync")
    assert synced.status_code == 200
    assert [t["name"] for t in synced.json()["tools"]] == [t["name"] for t in tools]


def _mcp(auth_type: str, **extra: object) -> dict:
    return {
        "name": "up",
        "connector": "mcp",
        "auth_type": auth_type,
        "settings": {"server_url": "http://127.0.0.1:9/mcp", "header_name": "X-Api-Key"},
        **extra,
    }


def test_moving_an_mcp_servers_shared_header_to_another_host_needs_confirmation(acme, acme_api):
    created = _post(acme_api, _mcp("shared_header", secrets={"shared_header": SHARED}))
    assert created.status_code == 201, created.content
    url = f"{BASE}/connections/up"
    elsewhere = {"settings": {"server_url": "http://127.0.0.1:10/mcp"}}
    error = _error(acme_api.patch(url, elsewhere, format="json"), 409, "credentials_would_move")
    assert error["details"] == {"fields": ["server_url"], "credentials": 1}
    assert SHARED not in json.dumps(error)
    # Same origin, another path: the header still goes where it was issued.
    same_host = acme_api.patch(
        url, {"settings": {"server_url": "http://127.0.0.1:9/v2/mcp"}}, format="json"
    )
    assert same_host.status_code == 200, same_host.content
    with tenant_context(acme):
        assert Connection.objects.get(name="up").settings["server_url"] == (
            "http://127.0.0.1:9/v2/mcp"
        )
    confirmed = acme_api.patch(url, {**elsewhere, "confirm_credential_move": True}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["settings"]["server_url"] == "http://127.0.0.1:10/mcp"
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type=EventType.CONNECTION_CHANGED).latest("id")
        assert event.extra["host_change_confirmed"] == ["server_url"]


def test_moving_an_mcp_server_with_users_keys_needs_confirmation(acme, acme_api):
    from accounts.services.accounts import account_get_or_create, account_store_api_key

    assert _post(acme_api, _mcp("api_key")).status_code == 201
    with tenant_context(acme):
        connection = Connection.objects.get(name="up")
        for who in ("alice", "bob"):
            account = account_get_or_create(connection=connection, identifier=who, actor="t")
            account_store_api_key(account=account, api_key=f"key-of-{who}", actor="t")
    url = f"{BASE}/connections/up"
    elsewhere = {"settings": {"server_url": "http://127.0.0.1:10/mcp"}}
    refused = acme_api.patch(url, elsewhere, format="json")
    error = _error(refused, 409, "credentials_would_move")
    assert error["details"] == {"fields": ["server_url"], "credentials": 2}
    assert "key-of-alice" not in refused.content.decode()
    with tenant_context(acme):
        assert Connection.objects.get(name="up").settings["server_url"] == (
            "http://127.0.0.1:9/mcp"
        )
    confirmed = acme_api.patch(url, {**elsewhere, "confirm_credential_move": True}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    with tenant_context(acme):
        # The admin said it is the same API: the users' keys stay (only OAuth tokens are bound
        # to the old server).
        assert set(ConnectedAccount.objects.values_list("status", flat=True)) == {"ACTIVE"}


def test_an_mcp_server_without_stored_credentials_can_move(acme_api):
    assert _post(acme_api, _mcp("api_key")).status_code == 201
    moved = acme_api.patch(
        f"{BASE}/connections/up",
        {"settings": {"server_url": "http://127.0.0.1:10/mcp"}},
        format="json",
    )
    assert moved.status_code == 200, moved.content
