"""Path routing and dashboard membership: alice of acme cannot reach globex."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import PASSWORD, PERSONAS


def _client_for(name: str) -> Client:
    client = Client()
    assert client.login(username=PERSONAS[name].email, password=PASSWORD)
    return client


def test_member_reaches_her_tenant_dashboard(acme):
    response = _client_for("alice").get("/t/acme/dashboard/")
    assert response.status_code == 200
    assert b"Acme" in response.content


def test_member_of_acme_gets_404_on_globex(acme, globex):
    response = _client_for("alice").get("/t/globex/dashboard/")
    assert response.status_code == 404


def test_unknown_tenant_is_404(db):
    assert _client_for("alice").get("/t/nope/dashboard/").status_code == 404


def test_anonymous_visitor_is_sent_to_sign_in(acme):
    response = Client().get("/t/acme/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/t/acme/dashboard/")


def test_home_sends_a_single_tenant_member_to_her_dashboard(acme):
    response = _client_for("carol").get("/")
    assert (response.status_code, response["Location"]) == (302, "/t/globex/dashboard/")


def test_one_login_serves_every_tenant_a_user_belongs_to(acme, globex, user_of):
    from tenants.services import membership_set

    membership_set(tenant=globex, user=user_of("alice"), role="auditor")
    client = _client_for("alice")
    assert client.get("/t/acme/dashboard/").status_code == 200
    assert client.get("/t/globex/dashboard/").status_code == 200
    switcher = client.get("/")
    assert (
        switcher.status_code == 200
        and b"Globex" in switcher.content
        and b"Acme" in switcher.content
    )


def test_sign_in_page_rejects_a_wrong_password(db):
    response = Client().post("/login/", {"username": PERSONAS["alice"].email, "password": "nope"})
    assert response.status_code == 200
    # It speaks of the e-mail people typed, not of Django's "username".
    assert b"That e-mail and password do not match an account." in response.content


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer(db, path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_names_the_failing_dependency(db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("unavailable")
    assert response.json()["checks"]["database"] == "ok"
