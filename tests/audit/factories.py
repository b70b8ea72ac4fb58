"""Audit test factories: events of a given age and the short-lived rows a purge removes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from audit.models import AuditEvent
from configs.models import Connection, McpConfig, SessionToken
from vault.models import ConnectedAccount, ConnectLink, OAuthState, Secret


def make_event(*, occurred_at: datetime | None = None, **fields: Any) -> AuditEvent:
    """One event in the current schema (defaults: a successful tool call by alice)."""
    values: dict[str, Any] = {
        "occurred_at": occurred_at or timezone.now(),
        "event_type": "tool.called",
        "outcome": "ok",
        "actor": "identifier:alice",
        "identifier": "alice",
        "tool_name": "gmail_send",
        "connection_name": "gmail",
        **fields,
    }
    return AuditEvent.objects.create(**values)


def make_events_aged(days: list[float], *, now: datetime) -> list[AuditEvent]:
    return [make_event(occurred_at=now - timedelta(days=d), extra={"age": d}) for d in days]


class ShortLived:
    """Session tokens, connect links, OAuth states (with PKCE secrets) in the current schema."""

    def __init__(self) -> None:
        self.connection = Connection.objects.create(
            name=f"gmail-{uuid.uuid4().hex[:8]}", connector="gmail", auth_type="oauth2"
        )
        self.config = McpConfig.objects.create(name=f"cfg-{uuid.uuid4().hex[:8]}")
        self.account = ConnectedAccount.objects.create(
            connection=self.connection, identifier="alice"
        )

    def token(self, *, expires_at: datetime) -> SessionToken:
        return SessionToken.objects.create(
            config=self.config,
            identifier="alice",
            token_hash=uuid.uuid4().hex * 2,
            prefix="vmcp_st_abcd",
            expires_at=expires_at,
        )

    def link(self, *, expires_at: datetime, used_at: datetime | None = None) -> ConnectLink:
        return ConnectLink.objects.create(
            account=self.account,
            token_hash=uuid.uuid4().hex * 2,
            expires_at=expires_at,
            used_at=used_at,
        )

    def state(
        self,
        *,
        expires_at: datetime,
        used_at: datetime | None = None,
        link: ConnectLink | None = None,
    ) -> OAuthState:
        state = OAuthState.objects.create(
            account=self.account,
            link=link,
            state_hash=uuid.uuid4().hex * 2,
            redirect_uri="https://vmcp.test/oauth/callback",
            expires_at=expires_at,
            used_at=used_at,
        )
        Secret.objects.create(
            owner_type=Secret.OwnerType.OAUTH_STATE,
            owner_id=state.pk,
            field="code_verifier",
            key_version=1,
            ciphertext=b"not-really-encrypted",
        )
        return state
