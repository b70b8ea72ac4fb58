"""Tenant provisioning: schemas really created and dropped, slugs validated, commands work."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tenants.models import Membership, Tenant
from tenants.services import tenant_create, tenant_delete
from vmcp_platform.errors import Conflict, ValidationFailed


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def _tables_in(schema: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(transaction=False)
def test_persona_tenants_have_their_own_schemas_with_tenant_tables(acme, globex):
    assert acme.schema_name == "t_acme" and globex.schema_name == "t_globex"
    for schema in ("t_acme", "t_globex"):
        tables = _tables_in(schema)
        assert {"audit_auditevent", "configs_connection", "vault_secret"} <= tables
        assert "tenants_tenant" not in tables  # shared tables stay in public


def test_tenant_create_command_creates_schema_owner_and_delete_drops_it(
    django_db_blocker, django_db_setup
):
    out = io.StringIO()
    with django_db_blocker.unblock():
        try:
            call_command(
                "tenant_create",
                slug="initech",
                name="Initech",
                owner_email="Peter@Initech.test",
                password="x-secret-pw-123",
                stdout=out,
            )
            tenant = Tenant.objects.get(slug="initech")
            assert _schema_exists("t_initech")
            owner = Membership.objects.get(tenant=tenant)
            assert (owner.user.email, owner.role) == ("peter@initech.test", "owner")
            assert owner.user.check_password("x-secret-pw-123")
            assert "created" in out.getvalue()

            call_command("tenant_delete", "initech", yes=True, stdout=io.StringIO())
            assert not Tenant.objects.filter(slug="initech").exists()
            assert not _schema_exists("t_initech")
        finally:
            leftover = Tenant.objects.filter(slug="initech").first()
            if leftover:
                tenant_delete(tenant=leftover)


def test_tenant_delete_without_confirmation_deletes_nothing(acme, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "not-acme")
    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("tenant_delete", "acme", stdout=io.StringIO())
    assert Tenant.objects.filter(slug="acme").exists()
    assert _schema_exists("t_acme")


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Acme", "a–z, 0–9"),
        ("-acme", "a–z, 0–9"),
        ("ac_me", "a–z, 0–9"),
        ("", "a–z, 0–9"),
        ("x" * 51, "a–z, 0–9"),
        ("admin", "reserved"),
        ("api", "reserved"),
        ("public", "reserved"),
    ],
)
def test_invalid_or_reserved_slugs_are_refused_and_nothing_is_created(db, slug, message):
    before = set(Tenant.objects.values_list("slug", flat=True))
    with pytest.raises(ValidationFailed, match=message):
        tenant_create(slug=slug, name="X", owner_email="x@x.test")
    assert set(Tenant.objects.values_list("slug", flat=True)) == before


def test_duplicate_slug_is_a_conflict(acme):
    with pytest.raises(Conflict, match="already exists"):
        tenant_create(slug="acme", name="Acme again", owner_email="x@x.test")


def test_tenant_create_command_reports_bad_slug_clearly(db):
    with pytest.raises(CommandError, match="reserved"):
        call_command(
            "tenant_create", slug="login", name="L", owner_email="l@l.test", stdout=io.StringIO()
        )


def test_apikey_create_command_prints_the_key_once_and_stores_only_its_hash(acme):
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey_create", tenant="acme", name="backend", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert secret.startswith("vmcp_sk_")
    key = acme.api_keys.get(name="backend")
    assert key.key_hash != secret and secret not in key.key_hash
    assert key.prefix == secret[:12]
    assert "shown once" in err.getvalue()
