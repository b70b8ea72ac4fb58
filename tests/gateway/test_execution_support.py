"""Shared fixtures of the execution tests (no tests here): connections, connected accounts, a
clean rate-limit state, and a sync wrapper around the async execution path."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from configs.models import Connection
from gateway import ratelimit
from gateway.execution import ExecutionResult, tool_execute
from tenants.models import Tenant
from tests.fakes.plugin import fake_providers, fake_providers_server  # noqa: F401
from tests.fakes.providers import FakeProviders
from vault.models import ConnectedAccount, Secret
from vault.secrets import secret_put


def clear_rate_limits() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter("rl:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    ratelimit.reset_pool()


@pytest.fixture(autouse=True)
def _clean_rate_limits() -> Iterator[None]:
    clear_rate_limits()
    yield
    ratelimit.reset_pool()


def run(tenant: Tenant, **kwargs: Any) -> ExecutionResult:
    """``tool_execute`` from a sync test (its ORM work joins the test's transaction)."""
    kwargs.setdefault("actor", "tests")
    kwargs.setdefault("arguments", {})
    return async_to_sync(tool_execute)(tenant=tenant, **kwargs)


def set_limits(tenant: Tenant, **fields: int | bool) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(**fields)


@pytest.fixture
def demo_connection(in_acme: Tenant) -> Connection:
    return Connection.objects.create(name="demo", connector="demo", auth_type="none")


@pytest.fixture
def gmail_connection(in_acme: Tenant, fake_providers: FakeProviders) -> Connection:  # noqa: F811
    return Connection.objects.create(
        name="gmail",
        connector="gmail",
        auth_type="oauth2",
        settings={"client_id": "cid", "api_base_url": fake_providers.url("gmail")},
    )


def connect_account(
    connection: Connection, identifier: str, tokens: dict[str, Any]
) -> ConnectedAccount:
    """An ACTIVE account whose OAuth tokens sit in the vault, as after the connect flow."""
    account = ConnectedAccount.objects.create(
        connection=connection,
        identifier=identifier,
        status=ConnectedAccount.Status.ACTIVE,
        token_expires_at=timezone.now() + timedelta(hours=1),
        connected_at=timezone.now(),
    )
    secret_put(
        owner_type=Secret.OwnerType.ACCOUNT,
        owner_id=account.pk,
        field="oauth_tokens",
        value=json.dumps(
            {
                "access_token": tokens["access_token"],
                "refresh_token": tokens.get("refresh_token"),
                "token_type": "Bearer",
            }
        ),
    )
    return account


@pytest.fixture
def gmail_users(
    gmail_connection: Connection,
    fake_providers: FakeProviders,  # noqa: F811
) -> dict[str, dict[str, Any]]:
    """alice and bob, each with their own ACTIVE Gmail account; returns their tokens."""
    tokens = {}
    for user in ("alice", "bob"):
        tokens[user] = fake_providers.issue_token("gmail", user)
        connect_account(gmail_connection, user, tokens[user])
    return tokens


Runner = Callable[..., ExecutionResult]
