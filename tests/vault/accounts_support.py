"""Factories and helpers shared by the connected-account, connect-flow and refresh tests.

Every helper that touches tenant models expects the tenant's schema to be selected.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import connection as db
from django.utils import timezone

from accounts.services.oauth import oauth_redirect_uri
from configs.models import Connection
from tests.fakes.providers import FakeProviders
from vault.models import ConnectedAccount, Secret
from vault.secrets import secret_put

CLIENT_SECRET = "client-secret-" + "s" * 20
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def oauth_connection(
    fake: FakeProviders,
    connector: str = "gmail",
    *,
    name: str | None = None,
    client_id: str | None = None,
    redirect_uri: str | None = None,
    scopes: list[str] | None = None,
    **overrides: Any,
) -> Connection:
    """An OAuth connection pointed at the fake provider, its client registered there."""
    client_id = client_id or f"client-{connector}"
    fake.register_client(connector, client_id, CLIENT_SECRET, redirect_uri or oauth_redirect_uri())
    settings: dict[str, Any] = {
        "client_id": client_id,
        **fake.oauth_urls(connector),
        "api_base_url": fake.url(connector),
        **overrides,
    }
    if scopes is not None:
        settings["scopes"] = scopes
    connection = Connection.objects.create(
        name=name or connector, connector=connector, auth_type="oauth2", settings=settings
    )
    secret_put(
        owner_type=Secret.OwnerType.CONNECTION,
        owner_id=connection.pk,
        field="client_secret",
        value=CLIENT_SECRET,
    )
    return connection


def api_key_connection(name: str = "github-pat") -> Connection:
    return Connection.objects.create(name=name, connector="github", auth_type="api_key")


def active_account(
    fake: FakeProviders,
    connection: Connection,
    identifier: str,
    *,
    expires_in: int = 3600,
    login: str | None = None,
) -> tuple[ConnectedAccount, dict[str, Any]]:
    """An ACTIVE account holding real tokens from the fake, as if the user had connected."""
    tokens = fake.issue_token(
        connection.connector,
        login or identifier,
        expires_in=expires_in,
        client_id=connection.settings["client_id"],
    )
    account = ConnectedAccount.objects.create(
        connection=connection,
        identifier=identifier,
        status=ConnectedAccount.Status.ACTIVE,
        token_expires_at=timezone.now() + timedelta(seconds=expires_in),
        connected_at=timezone.now(),
    )
    secret_put(
        owner_type=Secret.OwnerType.ACCOUNT,
        owner_id=account.pk,
        field="oauth_tokens",
        value=json.dumps(
            {
                "access_token": tokens["access_token"],
                "refresh_token": tokens["refresh_token"],
                "token_type": "Bearer",
            }
        ),
    )
    return account, tokens


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF-protected form"
    return match.group(1)


def plaintext_hits(needles: list[str], schemas: list[str]) -> list[str]:
    """Every (schema.table.column) of a text-like, JSON or bytea column holding a needle."""
    hits: list[str] = []
    with db.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_schema, c.table_name, c.column_name, c.data_type
            FROM information_schema.columns c
            JOIN information_schema.tables t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = ANY(%s) AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb',
                                  'bytea')
            """,
            [schemas],
        )
        columns = cursor.fetchall()
        for schema, table, column, data_type in columns:
            target = f'"{schema}"."{table}"'
            for needle in needles:
                if data_type == "bytea":
                    sql = f'SELECT 1 FROM {target} WHERE position(%s::bytea in "{column}") > 0'
                    param: Any = needle.encode()
                else:
                    sql = f'SELECT 1 FROM {target} WHERE strpos("{column}"::text, %s) > 0'
                    param = needle
                cursor.execute(sql + " LIMIT 1", [param])
                if cursor.fetchone():
                    hits.append(f"{schema}.{table}.{column}")
    return hits


def magic_link(api: Any, connection_name: str, identifier: str, tenant: str = "acme") -> str:
    """A fresh connect link from the tenant's backend (the REST API)."""
    response = api.post(
        f"/t/{tenant}/api/v1/connected_accounts/magic_link",
        {"connection_name": connection_name, "identifier": identifier},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["link"]


def press_continue(browser: Any, link: str) -> str:
    """Open the connect page in ``browser`` and press Continue; the provider's authorize URL."""
    page = browser.get(path_of(link))
    assert page.status_code == 200, page.content
    response = browser.post(path_of(link), {"csrfmiddlewaretoken": csrf_token(page.text)})
    assert response.status_code == 302, response.content
    return response["Location"]
