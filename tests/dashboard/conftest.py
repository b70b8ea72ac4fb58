"""Acme, furnished: connections, virtual servers, an account, a token and audit events."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from tests.conftest import PASSWORD, PERSONAS


@dataclass
class Furnished:
    gmail: object
    demo: object
    server: object
    demo_server: object
    account: object
    token: object
    event: object
    api_key: object


def client_for(name: str) -> Client:
    client = Client()
    assert client.login(username=PERSONAS[name].email, password=PASSWORD)
    return client


@pytest.fixture
def furnished(acme) -> Furnished:  # noqa: ANN001
    from accounts.services import account_get_or_create
    from accounts.services.sessions import session_token_mint
    from audit.services import audit_record
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create
    from tenants.services import api_key_create

    with tenant_context(acme):
        gmail = connection_create(
            name="gmail",
            connector="gmail",
            auth_type="oauth2",
            settings={"client_id": "acme-client"},
            secrets={"client_secret": "acme-client-secret"},
            actor="tests",
        )
        demo = connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        server = mcp_config_create(
            name="summarizer",
            mappings=[
                {"connection_name": "gmail", "tools": ["gmail_fetch_mails", "gmail_get_message"]}
            ],
            actor="tests",
        )
        demo_server = mcp_config_create(
            name="demo-server",
            mappings=[{"connection_name": "demo", "tools": ["*"]}],
            actor="tests",
        )
        account = account_get_or_create(connection=gmail, identifier="dave@acme.test", actor="t")
        token = session_token_mint(
            config=demo_server, identifier="dave@acme.test", expiry_seconds=600, actor="t"
        ).token
        event = audit_record(
            event_type="tool.called",
            outcome="error",
            error_code="provider_error",
            identifier="dave@acme.test",
            tool_name="demo_echo",
            connection_name="demo",
            config_id=demo_server.pk,
            latency_ms=12,
        )
    api_key = api_key_create(tenant=acme, name="backend", created_by="tests").api_key
    return Furnished(gmail, demo, server, demo_server, account, token, event, api_key)
