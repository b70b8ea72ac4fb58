"""OAuth 2.0 authorization code from the document's ``securitySchemes``, end to end.

The document's authorizationCode flow points at the fake OAuth provider (real HTTP; it checks
PKCE S256, the state, the client and the redirect URI); the end users connect through the usual
connect link → Continue → consent → callback; tool calls then reach the validating loopback API
with each user's own bearer token, and an expiring token is refreshed at the document's tokenUrl.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from accounts.services.oauth import oauth_redirect_uri
from configs.models import Connection
from tests.fakes import plugin as fakes_plugin
from tests.gateway.test_execution_support import run
from tests.vault.accounts_support import csrf_token, path_of
from vault.models import ConnectedAccount

from .fake_api import FakeApi
from .support import PETSTORE, document
from .test_connection_api import BASE, LOOPBACK

fake_providers_server = fakes_plugin.fake_providers_server
fake_providers = fakes_plugin.fake_providers

CLIENT_ID = "pets-client"
CLIENT_SECRET = "pets-client-secret-" + "s" * 16


def _oauth_petstore(fake, tmp_path: Path, **flow_overrides: str) -> Path:  # noqa: ANN001
    """Petstore whose petstore_auth is an authorizationCode flow at the fake provider, and
    whose getPetById asks for it (the published document says api_key there)."""
    urls = fake.oauth_urls("google")
    doc = document(PETSTORE)
    doc["components"]["securitySchemes"]["petstore_auth"]["flows"] = {
        "authorizationCode": {
            "authorizationUrl": urls["authorize_url"],
            "tokenUrl": urls["token_url"],
            "scopes": {"write:pets": "modify pets", "read:pets": "read pets"},
            **flow_overrides,
        }
    }
    doc["paths"]["/pet/{petId}"]["get"]["security"] = [{"petstore_auth": ["read:pets"]}]
    path = tmp_path / "petstore-oauth.json"
    path.write_text(json.dumps(doc))
    return path


def _create(api, doc_path: Path, server_url: str, **settings):  # noqa: ANN001
    return api.post(
        f"{BASE}/connections",
        {
            "name": "pets",
            "connector": "openapi",
            "auth_type": "oauth2",
            "settings": {
                "document": json.loads(doc_path.read_text()),
                "server_url": server_url,
                "security_scheme": "petstore_auth",
                "client_id": CLIENT_ID,
                **settings,
            },
            "secrets": {"client_secret": CLIENT_SECRET},
        },
        format="json",
    )


def _connect(api, fake, identifier: str, login: str) -> dict[str, list[str]]:  # noqa: ANN001
    """The end user's browser: connect link → Continue → consent at the provider → callback."""
    browser = Client(enforce_csrf_checks=True)
    made = api.post(
        "/t/acme/api/v1/connected_accounts/magic_link",
        {"connection_name": "pets", "identifier": identifier},
        format="json",
    )
    assert made.status_code == 201, made.content
    link = made.json()["link"]
    page = browser.get(path_of(link))
    assert page.status_code == 200, page.content
    pressed = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})
    assert pressed.status_code == 302, pressed.content
    authorize = pressed["Location"]
    assert authorize.startswith(fake.oauth_urls("google")["authorize_url"] + "?")
    callback = fake.approve(authorize, login=login)
    done = browser.get(path_of(callback))
    assert done.status_code == 200, done.content
    return parse_qs(urlsplit(authorize).query)


@pytest.fixture
def oauth_api(fake_providers, tmp_path):  # noqa: ANN001
    fake_providers.register_client("google", CLIENT_ID, CLIENT_SECRET, oauth_redirect_uri())
    doc_path = _oauth_petstore(fake_providers, tmp_path)
    with LOOPBACK, FakeApi(doc_path) as api:
        yield doc_path, api


def _user_of(fake, authorization: str | None) -> str | None:  # noqa: ANN001
    assert authorization and authorization.startswith("Bearer ")
    user, _reason = fake._token_user("google", authorization.removeprefix("Bearer "))
    return user


def test_each_user_connects_through_the_documents_flow_and_their_token_reaches_the_api(
    acme, acme_api, fake_providers, oauth_api
):
    doc_path, api = oauth_api
    created = _create(acme_api, doc_path, api.url)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["settings"]["auth"]["kind"] == "oauth2"
    assert body["settings"]["auth"]["token_url"] == fake_providers.oauth_urls("google")["token_url"]
    assert body["secrets"]["client_secret"]["set"] is True
    assert CLIENT_SECRET not in created.content.decode()

    query = _connect(acme_api, fake_providers, "alice", "alice-at-provider")
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [CLIENT_ID]
    # The scopes the document's operations require of petstore_auth.
    assert query["scope"] == ["write:pets read:pets"]
    _connect(acme_api, fake_providers, "bob", "bob-at-provider")
    exchanges = [r for r in fake_providers.token_requests if r.grant_type == "authorization_code"]
    assert [(r.outcome, r.user) for r in exchanges] == [
        ("ok", "alice-at-provider"),
        ("ok", "bob-at-provider"),
    ]

    with tenant_context(acme):
        for identifier in ("alice", "bob", "alice"):
            got = run(
                acme,
                connection_name="pets",
                tool_name="pets_get_pet_by_id",
                identifier=identifier,
                arguments={"petId": 7},
            )
            assert got.error is None, got.result
            assert got.result.structured["id"] == 7
    assert api.errors == []
    assert [_user_of(fake_providers, s["authorization"]) for s in api.seen] == [
        "alice-at-provider",
        "bob-at-provider",
        "alice-at-provider",
    ]


def test_an_expiring_token_is_refreshed_at_the_documents_token_url(
    acme, acme_api, fake_providers, oauth_api
):
    doc_path, api = oauth_api
    assert _create(acme_api, doc_path, api.url).status_code == 201
    _connect(acme_api, fake_providers, "alice", "alice-at-provider")
    with tenant_context(acme):
        ConnectedAccount.objects.filter(identifier="alice").update(
            token_expires_at=timezone.now() + timedelta(seconds=5)
        )
        got = run(
            acme,
            connection_name="pets",
            tool_name="pets_get_pet_by_id",
            identifier="alice",
            arguments={"petId": 3},
        )
        assert got.error is None, got.result
        account = ConnectedAccount.objects.get(identifier="alice")
        assert account.refreshed_at is not None
    refreshes = [r for r in fake_providers.token_requests if r.grant_type == "refresh_token"]
    assert [(r.outcome, r.user, r.client_id) for r in refreshes] == [
        ("ok", "alice-at-provider", CLIENT_ID)
    ]
    assert _user_of(fake_providers, api.seen[-1]["authorization"]) == "alice-at-provider"
    assert api.errors == []


@pytest.mark.parametrize(
    ("flows", "field"),
    [
        # The flow's endpoints are checked when saved, like every outbound URL.
        ({"tokenUrl": "http://10.1.2.3/token"}, "token_url"),
        ({"authorizationUrl": "http://169.254.169.254/auth"}, "authorize_url"),
    ],
    ids=["private-token-url", "metadata-authorize-url"],
)
def test_a_flow_url_on_a_private_address_is_refused_and_changes_nothing(
    acme, acme_api, fake_providers, tmp_path, flows, field
):
    doc_path = _oauth_petstore(fake_providers, tmp_path, **flows)
    with LOOPBACK:
        response = _create(acme_api, doc_path, "http://127.0.0.1:9/v2")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "unsafe_url" and error["details"]["field"] == field
    with tenant_context(acme):
        assert not Connection.objects.exists()


def test_an_implicit_only_scheme_or_a_missing_client_id_is_a_clear_error(
    acme, acme_api, fake_providers, tmp_path
):
    doc = document(PETSTORE)  # the published petstore_auth is an implicit flow
    with LOOPBACK:
        response = acme_api.post(
            f"{BASE}/connections",
            {
                "name": "pets",
                "connector": "openapi",
                "auth_type": "oauth2",
                "settings": {
                    "document": doc,
                    "server_url": "http://127.0.0.1:9/v2",
                    "security_scheme": "petstore_auth",
                    "client_id": CLIENT_ID,
                },
                "secrets": {"client_secret": CLIENT_SECRET},
            },
            format="json",
        )
    assert response.status_code == 400
    assert "authorizationCode" in response.json()["error"]["message"]
    doc_path = _oauth_petstore(fake_providers, tmp_path)
    with LOOPBACK:
        no_client = _create(acme_api, doc_path, "http://127.0.0.1:9/v2", client_id="")
        no_secret = acme_api.post(
            f"{BASE}/connections",
            {
                "name": "pets",
                "connector": "openapi",
                "auth_type": "oauth2",
                "settings": {
                    "document": json.loads(doc_path.read_text()),
                    "server_url": "http://127.0.0.1:9/v2",
                    "client_id": CLIENT_ID,
                },
            },
            format="json",
        )
    assert no_client.status_code == 400
    assert no_client.json()["error"]["details"]["field"] == "client_id"
    assert no_secret.status_code == 400
    assert no_secret.json()["error"]["details"]["field"] == "client_secret"
    with tenant_context(acme):
        assert not Connection.objects.exists()


def test_a_document_moving_the_token_url_after_users_connected_needs_confirmation(
    acme, acme_api, fake_providers, oauth_api, tmp_path
):
    """Refresh tokens and the client secret go to the token URL: moving it is a credential move."""
    doc_path, api = oauth_api
    assert _create(acme_api, doc_path, api.url).status_code == 201
    _connect(acme_api, fake_providers, "alice", "alice-at-provider")
    moved = json.loads(doc_path.read_text())
    moved["components"]["securitySchemes"]["petstore_auth"]["flows"]["authorizationCode"][
        "tokenUrl"
    ] = "http://127.0.0.1:9/elsewhere/token"
    refused = acme_api.patch(
        f"{BASE}/connections/pets", {"settings": {"document": moved}}, format="json"
    )
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["details"]["fields"] == ["token_url"]
    with tenant_context(acme):
        auth = Connection.objects.get(name="pets").settings["auth"]
        assert auth["token_url"] == fake_providers.oauth_urls("google")["token_url"]


def test_moving_the_token_url_with_only_the_client_secret_stored_needs_confirmation(
    acme, acme_api, fake_providers, oauth_api
):
    """No user has connected yet, but the client secret goes to the token URL all the same."""
    from audit.models import AuditEvent

    doc_path, api = oauth_api
    assert _create(acme_api, doc_path, api.url).status_code == 201
    moved = json.loads(doc_path.read_text())
    moved["components"]["securitySchemes"]["petstore_auth"]["flows"]["authorizationCode"][
        "tokenUrl"
    ] = "http://127.0.0.1:9/elsewhere/token"
    refused = acme_api.patch(
        f"{BASE}/connections/pets", {"settings": {"document": moved}}, format="json"
    )
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == "credentials_would_move"
    assert refused.json()["error"]["details"] == {"fields": ["token_url"], "credentials": 1}
    assert CLIENT_SECRET not in refused.content.decode()
    with tenant_context(acme):
        auth = Connection.objects.get(name="pets").settings["auth"]
        assert auth["token_url"] == fake_providers.oauth_urls("google")["token_url"]
    confirmed = acme_api.patch(
        f"{BASE}/connections/pets",
        {"settings": {"document": moved}, "confirm_credential_move": True},
        format="json",
    )
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["settings"]["auth"]["token_url"] == "http://127.0.0.1:9/elsewhere/token"
    with tenant_context(acme):
        event = AuditEvent.objects.filter(event_type="connection.changed").latest("id")
        assert event.extra["host_change_confirmed"] == ["token_url"]


def test_moving_only_the_api_server_does_not_count_the_client_secret(acme, acme_api, oauth_api):
    """The client secret goes to the token URL, never to the API: that move is the admin's."""
    doc_path, api = oauth_api
    assert _create(acme_api, doc_path, api.url).status_code == 201
    moved = acme_api.patch(
        f"{BASE}/connections/pets",
        {"settings": {"server_url": "http://127.0.0.1:9/v2"}},
        format="json",
    )
    assert moved.status_code == 200, moved.content


def test_the_admin_changes_the_oauth_client_on_the_dashboard(acme, acme_api, oauth_api):
    from tests.dashboard.conftest import client_for
    from vault.models import Secret
    from vault.secrets import secret_get

    doc_path, api = oauth_api
    assert _create(acme_api, doc_path, api.url).status_code == 201
    url = "/t/acme/dashboard/connections/pets/openapi-settings/"
    alice = client_for("alice")
    page = alice.get(url).content.decode()
    assert f'value="{CLIENT_ID}"' in page and CLIENT_SECRET not in page
    saved = alice.post(
        url,
        {
            "server_url": api.url,
            "client_id": "pets-client-2",
            "scopes": "read:pets",
            "client_secret": "second-secret",
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    with tenant_context(acme):
        connection = Connection.objects.get(name="pets")
        assert connection.settings["client_id"] == "pets-client-2"
        assert connection.settings["scopes"] == ["read:pets"]
        owner = Secret.OwnerType.CONNECTION
        assert secret_get(owner_type=owner, owner_id=connection.pk, field="client_secret") == (
            "second-secret"
        )
    missing = alice.post(url, {"server_url": api.url, "client_id": ""})
    assert missing.status_code == 400 and "client_id" in missing.content.decode()


def test_a_flows_refresh_url_takes_the_refresh_grants(acme, acme_api, fake_providers, tmp_path):
    fake_providers.register_client("google", CLIENT_ID, CLIENT_SECRET, oauth_redirect_uri())
    token_url = fake_providers.oauth_urls("google")["token_url"]
    doc_path = _oauth_petstore(fake_providers, tmp_path, refreshUrl=token_url)
    with LOOPBACK, FakeApi(doc_path) as api:
        assert _create(acme_api, doc_path, api.url).status_code == 201
        _connect(acme_api, fake_providers, "alice", "alice-at-provider")
        with tenant_context(acme):
            connection = Connection.objects.get(name="pets")
            assert connection.settings["auth"]["refresh_url"] == token_url
            # Only the refreshUrl can answer now: the token URL points at nothing.
            connection.settings["auth"]["token_url"] = "http://127.0.0.1:9/token"
            connection.save()
            ConnectedAccount.objects.filter(identifier="alice").update(
                token_expires_at=timezone.now() + timedelta(seconds=5)
            )
            got = run(
                acme,
                connection_name="pets",
                tool_name="pets_get_pet_by_id",
                identifier="alice",
                arguments={"petId": 3},
            )
            assert got.error is None, got.result
    refreshes = [r for r in fake_providers.token_requests if r.grant_type == "refresh_token"]
    assert [(r.outcome, r.user) for r in refreshes] == [("ok", "alice-at-provider")]
    assert _user_of(fake_providers, api.seen[-1]["authorization"]) == "alice-at-provider"
