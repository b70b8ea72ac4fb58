"""End one end user tenant-wide: every session token on every server, optionally their accounts.

Revoking a user's tokens server by server (``session_tokens_revoke_for_identifier``) stops at
the server boundary; a user who leaves, or whose device is lost, must be cut off everywhere at
once. The action is audited once, with counts (a ``token.revoked`` event of scope
``end_user``); each connected account revoked keeps its own ``account.revoked`` event too,
since each records the provider's revocation result.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.models import EventType
from audit.services import audit_record
from configs.models import SessionToken
from configs.services.tokens import check_identifier
from vault.models import ConnectedAccount
from vmcp_platform.observability import metrics

from .accounts import account_revoke


@dataclass(frozen=True)
class EndUserRevocation:
    identifier: str
    revoked_tokens: int
    servers: int
    revoked_accounts: int

    def as_dict(self) -> dict[str, object]:
        return {
            "identifier": self.identifier,
            "revoked_tokens": self.revoked_tokens,
            "servers": self.servers,
            "revoked_accounts": self.revoked_accounts,
        }


def end_user_revoke(
    *, identifier: str, actor: str, connected_accounts: bool = False
) -> EndUserRevocation:
    """Revoke every live session token of ``identifier`` on every server of the tenant, and with
    ``connected_accounts`` every account of theirs that is not revoked yet."""
    identifier = check_identifier(identifier)
    with transaction.atomic():
        now = timezone.now()
        live = list(
            SessionToken.objects.select_for_update()
            .filter(identifier=identifier, revoked_at__isnull=True, expires_at__gt=now)
            .order_by("created_at")
        )
        for token in live:
            token.revoked_at = now
            # save(), not update(): the gateway ends the token's open streams on post_save.
            token.save(update_fields=["revoked_at"])
    metrics.count_token_revoked(len(live))
    accounts = 0
    if connected_accounts:
        # One by one, outside a transaction: each may call its provider to revoke there.
        for account in (
            ConnectedAccount.objects.select_related("connection")
            .filter(identifier=identifier)
            .exclude(status=ConnectedAccount.Status.REVOKED)
            .order_by("pk")
        ):
            account_revoke(account=account, actor=actor)
            accounts += 1
    result = EndUserRevocation(
        identifier=identifier,
        revoked_tokens=len(live),
        servers=len({token.config_id for token in live}),
        revoked_accounts=accounts,
    )
    audit_record(
        event_type=EventType.TOKEN_REVOKED,
        actor=actor,
        identifier=identifier,
        extra={
            "scope": "end_user",
            # "_count": the audit sanitiser keeps such keys (a bare "…token…" key is redacted).
            "revoked_token_count": result.revoked_tokens,
            "server_count": result.servers,
            "revoked_account_count": result.revoked_accounts,
            "with_connected_accounts": connected_accounts,
        },
    )
    return result
