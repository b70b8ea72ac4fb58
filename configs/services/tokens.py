"""Session tokens (per config, per end user): created, authenticated, revoked.

Minting is gated on the user's connected accounts, so ``session_token_mint`` and the readiness
check it applies are in ``accounts.services.sessions``, above; this module stores the token.

A token is ``vmcp_st_`` + 40 random base62 characters + a checksum; only its SHA-256 is stored.
The secret is returned once by ``session_token_mint`` and never logged or audited.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import EventType
from audit.services import audit_record
from vmcp_platform import tokens
from vmcp_platform.errors import AuthenticationFailed, ValidationFailed
from vmcp_platform.observability import metrics

from ..models import McpConfig, SessionToken

MIN_EXPIRY_SECONDS = 60
MAX_EXPIRY_SECONDS = 24 * 3600
DEFAULT_EXPIRY_SECONDS = 3600
MAX_IDENTIFIER = 255
# last_used_at is informational: write it at most this often, not on every MCP request.
LAST_USED_RESOLUTION = timedelta(seconds=60)

_EXPIRY_RE = re.compile(r"^\s*(\d{1,6})\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class MintedToken:
    token: SessionToken
    secret: str  # shown once; the database keeps only its hash


def parse_expiry(value: str | int | None) -> int:
    """``"60s"``, ``"15m"``, ``"1h"``, ``"3600"`` or an int → seconds, within 60 s … 24 h."""
    if value is None or value == "":
        return DEFAULT_EXPIRY_SECONDS
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int):
        seconds = value
    else:
        match = _EXPIRY_RE.match(str(value))
        seconds = int(match[1]) * _UNIT_SECONDS[match[2]] if match else None
    if seconds is None or not MIN_EXPIRY_SECONDS <= seconds <= MAX_EXPIRY_SECONDS:
        raise ValidationFailed(
            "The expiry is invalid.",
            details={"expiry": 'between 60s and 24h, e.g. "60s", "15m", "1h", "24h"'},
        )
    return seconds


def check_identifier(identifier: Any) -> str:
    if (
        not isinstance(identifier, str)
        or not 1 <= len(identifier) <= MAX_IDENTIFIER
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in identifier)
    ):
        raise ValidationFailed(
            "The identifier is invalid.",
            details={"identifier": "1–255 characters, no control characters"},
        )
    return identifier


def session_token_create(
    *, config: McpConfig, identifier: str, expiry_seconds: int, actor: str
) -> MintedToken:
    """Store a new token for (config, identifier) and audit it; ``session_token_mint`` (in
    ``accounts.services.sessions``) calls this once every account the config needs is connected.
    """
    identifier = check_identifier(identifier)
    if not MIN_EXPIRY_SECONDS <= expiry_seconds <= MAX_EXPIRY_SECONDS:
        raise ValidationFailed(
            "The expiry is invalid.", details={"expiry": "between 60 and 86400 seconds"}
        )
    secret = tokens.generate(tokens.SESSION_TOKEN_PREFIX)
    with transaction.atomic():
        token = SessionToken.objects.create(
            config=config,
            identifier=identifier,
            token_hash=tokens.hash_token(secret),
            prefix=tokens.display_prefix(secret),
            created_by=actor[:255],
            expires_at=timezone.now() + timedelta(seconds=expiry_seconds),
        )
        audit_record(
            event_type=EventType.TOKEN_MINTED,
            actor=actor,
            identifier=identifier,
            config_id=config.pk,
            session_token_id=token.pk,
            extra={"expires_in": expiry_seconds},
        )
    metrics.count_token_minted()
    return MintedToken(token=token, secret=secret)


def session_token_authenticate(*, config_id: uuid.UUID | str, secret: str) -> SessionToken:
    """The live token for this secret on this config, or AuthenticationFailed.

    A malformed secret (wrong prefix, length or checksum) is refused before any query.
    """
    if not tokens.is_well_formed(secret, tokens.SESSION_TOKEN_PREFIX):
        raise AuthenticationFailed(
            "The session token is malformed.", details={"reason": "malformed_token"}
        )
    try:
        wanted = config_id if isinstance(config_id, uuid.UUID) else uuid.UUID(str(config_id))
    except ValueError:
        raise AuthenticationFailed(
            "The session token is not valid for this server.", details={"reason": "invalid_token"}
        ) from None
    token = (
        SessionToken.objects.select_related("config")
        .filter(token_hash=tokens.hash_token(secret))
        .first()
    )
    # Another config's token is reported exactly like an unknown one.
    if token is None or token.config_id != wanted:
        raise AuthenticationFailed(
            "The session token is not valid for this server.", details={"reason": "invalid_token"}
        )
    now = timezone.now()
    if token.revoked_at is not None:
        raise AuthenticationFailed(
            "The session token has been revoked.", details={"reason": "revoked_token"}
        )
    if token.expires_at <= now:
        raise AuthenticationFailed(
            "The session token has expired.", details={"reason": "expired_token"}
        )
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        SessionToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def session_token_revoke(*, token: SessionToken, actor: str) -> SessionToken:
    """Revoke one token (idempotent); the next request with it fails."""
    with transaction.atomic():
        locked = SessionToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            # save(), not update(): the gateway ends the token's open streams on post_save.
            locked.save(update_fields=["revoked_at"])
            _audit_revoked(locked, actor=actor, reason="single")
            metrics.count_token_revoked()
        token.revoked_at = locked.revoked_at
    return token


def session_tokens_revoke_for_identifier(*, config: McpConfig, identifier: str, actor: str) -> int:
    """Revoke every live token of this user on this config; returns how many were revoked."""
    identifier = check_identifier(identifier)
    with transaction.atomic():
        now = timezone.now()
        live = list(
            SessionToken.objects.select_for_update()
            .filter(config=config, identifier=identifier, revoked_at__isnull=True)
            .filter(expires_at__gt=now)
        )
        for token in live:
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            _audit_revoked(token, actor=actor, reason="identifier")
    metrics.count_token_revoked(len(live))
    return len(live)


def _audit_revoked(token: SessionToken, *, actor: str, reason: str) -> None:
    audit_record(
        event_type=EventType.TOKEN_REVOKED,
        actor=actor,
        identifier=token.identifier,
        config_id=token.config_id,
        session_token_id=token.pk,
        extra={"scope": reason},
    )
