"""Fixtures of the OAuth authorization-server tests (see ``support``).

``oauth_live`` (one per module): tenants ``oa-acme`` (servers ``summarizer`` and ``other``, from
the gateway tests' ``provision``, and ``personal``, an upstream MCP server's ``whoami`` behind a
per-user API key) and ``oa-globex`` (its own ``summarizer``), both signing users
in through one oidc-provider on loopback, served by a daphne whose PUBLIC_BASE_URL is its own
address (the issuer and resource URLs must be what the client reaches).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from tenants.models import Tenant
from tests.conftest import PASSWORD, free_port, run_daphne
from tests.gateway.test_mcp_support import provision
from tests.upstream.server import UpstreamServer, run_upstream

from .support import IDP_CLIENT_SECRET, DocumentServer, run_documents, run_idp

SLUGS = ("oa-acme", "oa-globex")


@dataclass
class OAuthLive:
    base_url: str
    idp_issuer: str
    tenants: dict[str, Tenant]
    configs: dict[str, str]  # "acme/summarizer" → id
    documents: DocumentServer

    def mcp_url(self, key: str) -> str:
        slug, _, _name = key.partition("/")
        return f"{self.base_url}/t/oa-{slug}/mcp/{self.configs[key]}"

    def issuer(self, slug: str) -> str:
        return f"{self.base_url}/t/oa-{slug}/oauth"


def _configure(tenant: Tenant, idp_issuer: str) -> None:
    from gateway.oauth.policy import SettingsChange, oauth_settings_update

    with tenant_context(tenant):
        oauth_settings_update(
            change=SettingsChange(
                fields={
                    "idp_issuer": idp_issuer,
                    "idp_client_id": f"vmcp-{tenant.slug}",
                    "idp_identifier_claim": "email",
                },
                client_secret=IDP_CLIENT_SECRET,
            ),
            actor="tests",
        )


def _personal_server(tenant: Tenant, upstream: UpstreamServer) -> str:
    """``personal``: the upstream's ``whoami``, behind a per-user API key nobody has yet."""
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    with tenant_context(tenant):
        remote = connection_create(
            name="remote",
            connector="mcp",
            auth_type="api_key",
            settings={"server_url": upstream.url},
            secrets=None,
            actor="tests",
        )
        assert connection_sync_tools(connection=remote, actor="tests")
        config = mcp_config_create(
            name="personal",
            mappings=[{"connection_name": "remote", "tools": ["whoami"]}],
            actor="tests",
        )
    connection.set_schema_to_public()
    return str(config.pk)


@pytest.fixture(scope="module")
def oauth_live(django_db_setup, django_db_blocker) -> Iterator[OAuthLive]:  # noqa: ANN001
    from configs.services.mcp_configs import mcp_config_create
    from tenants.services import tenant_create, tenant_delete

    port, idp_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    clients = [
        {
            "client_id": f"vmcp-{slug}",
            "client_secret": IDP_CLIENT_SECRET,
            "redirect_uris": [f"{base_url}/t/{slug}/oauth/callback"],
        }
        for slug in SLUGS
    ]
    upstream_cm = run_upstream()
    upstream = upstream_cm.__enter__()
    with django_db_blocker.unblock():
        tenants: dict[str, Tenant] = {}
        for slug in SLUGS:
            existing = Tenant.objects.filter(slug=slug).first()
            if existing:
                tenant_delete(tenant=existing)
            tenants[slug.removeprefix("oa-")] = tenant_create(
                slug=slug,
                name=slug.title(),
                owner_email=f"owner@{slug}.test",
                owner_password=PASSWORD,
            )
        connection.set_schema_to_public()
        summarizer, other, _tokens, _ids = provision(tenants["acme"])
        configs = {"acme/summarizer": summarizer, "acme/other": other}
        configs["acme/personal"] = _personal_server(tenants["acme"], upstream)
        with tenant_context(tenants["globex"]):
            from configs.services.connections import connection_create

            connection_create(
                name="demo",
                connector="demo",
                auth_type="none",
                settings={},
                secrets=None,
                actor="tests",
            )
            configs["globex/summarizer"] = str(
                mcp_config_create(
                    name="summarizer",
                    mappings=[{"connection_name": "demo", "tools": ["demo_add"]}],
                    actor="tests",
                ).pk
            )
        connection.set_schema_to_public()
    try:
        with (
            run_idp(idp_port, clients) as idp_issuer,
            run_documents() as documents,
        ):
            with django_db_blocker.unblock():
                for tenant in tenants.values():
                    _configure(tenant, idp_issuer)
                connection.set_schema_to_public()
            with (
                django_db_blocker.unblock(),
                run_daphne(port, extra_env={"PUBLIC_BASE_URL": base_url}) as url,
            ):
                assert url == base_url
                yield OAuthLive(base_url, idp_issuer, tenants, configs, documents)
    finally:
        upstream_cm.__exit__(None, None, None)
        with django_db_blocker.unblock():
            connection.set_schema_to_public()
            for tenant in tenants.values():
                tenant_delete(tenant=tenant)
