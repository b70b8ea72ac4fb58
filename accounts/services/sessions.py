"""A config's readiness for one end user, and the session-token minting it gates.

A token is minted only once the user has connected every account the config needs; until then
the caller gets a connect link per missing account. The token itself is stored (and later
authenticated and revoked) by ``configs.services.tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accounts.selectors import account_status_for
from accounts.services.accounts import account_get_or_create
from accounts.services.links import connect_link_create
from audit.models import EventType, Outcome
from audit.services import audit_record
from configs.models import Connection, McpConfig
from configs.services.tokens import (
    DEFAULT_EXPIRY_SECONDS,
    MAX_EXPIRY_SECONDS,
    MIN_EXPIRY_SECONDS,
    MintedToken,
    check_identifier,
    session_token_create,
)
from configs.tools import config_mappings
from vmcp_platform.errors import Conflict, ValidationFailed

NOT_CONNECTED = "NOT_CONNECTED"
NOT_REQUIRED = "NOT_REQUIRED"
ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class ConnectionReadiness:
    connection: Connection
    status: str  # an account status, NOT_CONNECTED or NOT_REQUIRED
    authorization_url: str | None = None
    link_expires_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "connection_name": self.connection.name,
            "connector": self.connection.connector,
            "status": self.status,
            # The names Scalekit's list_mcp_connected_accounts uses, beside vmcp's own.
            "connected_account_status": self.status,
            "authentication_link": self.authorization_url or None,
        }
        if self.authorization_url:
            out["authorization_url"] = self.authorization_url
            out["expires_at"] = self.link_expires_at.isoformat() if self.link_expires_at else None
        return out


@dataclass(frozen=True)
class ConfigReadiness:
    identifier: str
    connections: list[ConnectionReadiness]

    @property
    def ready(self) -> bool:
        return all(c.status in {ACTIVE, NOT_REQUIRED} for c in self.connections)


def config_readiness(
    *, config: McpConfig, identifier: str, include_auth_link: bool, actor: str
) -> ConfigReadiness:
    """Each connection's account status for this user; with links, create what is missing.

    With ``include_auth_link``, a missing account is created in PENDING_AUTH and every account
    that is not ACTIVE gets a fresh connect link (each link creation is its own audited write).
    """
    identifier = check_identifier(identifier)
    result = []
    for mapping in config_mappings(config):
        connection = mapping.connection
        if not connection.needs_user_credentials:
            result.append(ConnectionReadiness(connection=connection, status=NOT_REQUIRED))
            continue
        status = account_status_for(connection=connection, identifier=identifier)
        if status == ACTIVE or not include_auth_link:
            result.append(ConnectionReadiness(connection, status or NOT_CONNECTED))
            continue
        account = account_get_or_create(connection=connection, identifier=identifier, actor=actor)
        created = connect_link_create(account=account, actor=actor)
        result.append(
            ConnectionReadiness(
                connection=connection,
                status=account.status,
                authorization_url=created.url,
                link_expires_at=created.expires_at,
            )
        )
    return ConfigReadiness(identifier=identifier, connections=result)


def session_token_mint(
    *,
    config: McpConfig,
    identifier: str,
    expiry_seconds: int = DEFAULT_EXPIRY_SECONDS,
    actor: str,
) -> MintedToken:
    """Mint a token for (config, identifier), refused (409) while an account is missing."""
    identifier = check_identifier(identifier)
    if not MIN_EXPIRY_SECONDS <= expiry_seconds <= MAX_EXPIRY_SECONDS:
        raise ValidationFailed(
            "The expiry is invalid.", details={"expiry": "between 60 and 86400 seconds"}
        )
    readiness = config_readiness(
        config=config, identifier=identifier, include_auth_link=False, actor=actor
    )
    if not readiness.ready:
        _refuse_mint(config=config, identifier=identifier, readiness=readiness, actor=actor)
    return session_token_create(
        config=config, identifier=identifier, expiry_seconds=expiry_seconds, actor=actor
    )


def _refuse_mint(
    *, config: McpConfig, identifier: str, readiness: ConfigReadiness, actor: str
) -> None:
    """Give the caller a fresh connect link for each connection the user still has to connect.

    The links and PENDING_AUTH accounts are committed (each by its own service) even though
    the mint itself is refused: the caller forwards them to the user.
    """
    missing = []
    for item in readiness.connections:
        if item.status in {ACTIVE, NOT_REQUIRED}:
            continue
        account = account_get_or_create(
            connection=item.connection, identifier=identifier, actor=actor
        )
        created = connect_link_create(account=account, actor=actor)
        missing.append(
            ConnectionReadiness(
                connection=item.connection,
                status=item.status,
                authorization_url=created.url,
                link_expires_at=created.expires_at,
            ).as_dict()
        )
    audit_record(
        event_type=EventType.TOKEN_MINTED,
        outcome=Outcome.DENIED,
        error_code="missing_connected_accounts",
        actor=actor,
        identifier=identifier,
        config_id=config.pk,
        extra={"missing_connections": [m["connection_name"] for m in missing]},
    )
    raise Conflict(
        f"'{identifier}' has not connected every account this server needs.",
        code="missing_connected_accounts",
        details={"identifier": identifier, "missing_connections": missing},
    )
