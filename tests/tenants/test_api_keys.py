"""Tenant API keys: right tenant only, revoked/malformed/missing → 401, one error shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiKey
from tenants.services import api_key_create, api_key_revoke


def _client(secret: str | None = None, header: str | None = None) -> APIClient:
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _assert_error(response, status: int, code: str) -> None:  # noqa: ANN001
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_key_works_on_its_own_tenant_and_records_last_use(acme):
    created = api_key_create(tenant=acme, name="backend")
    response = _client(created.secret).get("/t/acme/api/v1/api_keys")
    assert response.status_code == 200
    assert [k["name"] for k in response.json()] == ["backend"]
    assert "key" not in response.json()[0] and "key_hash" not in response.json()[0]
    assert ApiKey.objects.get(pk=created.api_key.pk).last_used_at is not None


def test_key_of_acme_is_401_on_globex(acme, globex):
    created = api_key_create(tenant=acme, name="backend")
    response = _client(created.secret).get("/t/globex/api/v1/api_keys")
    _assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_401(acme):
    created = api_key_create(tenant=acme, name="backend")
    api_key_revoke(tenant=acme, api_key_id=created.api_key.pk)
    _assert_error(_client(created.secret).get("/t/acme/api/v1/api_keys"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer vmcp_sk_short",
        "Bearer vmcp_sk_" + "A" * 46,  # right length, bad checksum
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer " + "\u00e9" * 60,
        "vmcp_sk_" + "A" * 46,
    ],
)
def test_malformed_authorization_is_401_never_500(acme, header):
    _assert_error(_client(header=header).get("/t/acme/api/v1/api_keys"), 401, "unauthenticated")


def test_missing_key_is_401(acme):
    _assert_error(_client().get("/t/acme/api/v1/api_keys"), 401, "unauthenticated")


def test_a_mistyped_key_fails_its_checksum_without_matching(acme):
    created = api_key_create(tenant=acme, name="backend")
    flipped = (
        created.secret[:-7] + ("B" if created.secret[-7] != "B" else "C") + created.secret[-6:]
    )
    _assert_error(_client(flipped).get("/t/acme/api/v1/api_keys"), 401, "unauthenticated")


def test_create_returns_the_secret_once_and_lists_never_show_it(acme_api):
    created = acme_api.post("/t/acme/api/v1/api_keys", {"name": "ci"}, format="json")
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("vmcp_sk_")
    listing = acme_api.get("/t/acme/api/v1/api_keys").content.decode()
    assert secret not in listing
    assert _client(secret).get("/t/acme/api/v1/api_keys").status_code == 200


def test_validation_errors_use_the_error_shape_and_name_the_field(acme_api):
    response = acme_api.post("/t/acme/api/v1/api_keys", {"name": ""}, format="json")
    _assert_error(response, 400, "validation_error")
    assert "name" in response.json()["error"]["details"]


def test_malformed_json_is_a_clear_400(acme_api):
    response = acme_api.generic(
        "POST", "/t/acme/api/v1/api_keys", "{nope", content_type="application/json"
    )
    _assert_error(response, 400, "malformed_request")


def test_unknown_endpoint_and_unknown_tenant_are_404_in_the_error_shape(acme_api):
    _assert_error(acme_api.get("/t/acme/api/v1/nothing-here"), 404, "not_found")
    _assert_error(acme_api.get("/t/nope/api/v1/api_keys"), 404, "not_found")


def test_revoking_another_tenants_key_is_404_and_changes_nothing(acme_api, globex):
    theirs = api_key_create(tenant=globex, name="globex-backend")
    _assert_error(acme_api.delete(f"/t/acme/api/v1/api_keys/{theirs.api_key.pk}"), 404, "not_found")
    assert ApiKey.objects.get(pk=theirs.api_key.pk).revoked_at is None


def test_revoke_through_the_api_takes_effect_on_the_next_request(acme_api, acme):
    created = api_key_create(tenant=acme, name="old")
    assert acme_api.delete(f"/t/acme/api/v1/api_keys/{created.api_key.pk}").status_code == 204
    _assert_error(_client(created.secret).get("/t/acme/api/v1/api_keys"), 401, "unauthenticated")


def test_wrong_method_is_405_in_the_error_shape(acme_api):
    _assert_error(
        acme_api.put("/t/acme/api/v1/api_keys", {}, format="json"), 405, "method_not_allowed"
    )
