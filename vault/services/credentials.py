"""The credential for one tool call: the user's live access token or API key.

The one place the gateway gets a decrypted per-user credential from (``tool_execute`` →
``_resolve_credential``). It sits above ``accounts`` and ``refresh`` because it uses both: an
OAuth token that is about to expire is refreshed first.
"""

from __future__ import annotations

from configs.models import Connection
from vault.models import ConnectedAccount
from vault.secrets import secret_get

from .accounts import (
    ACCOUNT,
    API_KEY_FIELD,
    account_tokens,
    needs_refresh,
    no_active_account,
    require_active,
)
from .refresh import account_refresh


def account_credential_for_call(*, connection: Connection, identifier: str) -> str | None:
    """This user's live access token or API key for ``connection``; refreshes first if needed.

    None for connections without per-user credentials. Raises ``no_active_account`` (409) when
    the user has no ACTIVE account, ``account_expired`` (409) when it needs reconnecting.
    """
    if not connection.needs_user_credentials:
        return None
    account = (
        ConnectedAccount.objects.select_related("connection")
        .filter(connection=connection, identifier=identifier)
        .first()
    )
    require_active(account, connection, identifier)
    assert account is not None
    if connection.auth_type == Connection.AuthType.API_KEY:
        key = secret_get(owner_type=ACCOUNT, owner_id=account.pk, field=API_KEY_FIELD)
        if not key:
            raise no_active_account(connection, identifier, account.status)
        return key
    if needs_refresh(account):
        return account_refresh(account=account)
    tokens = account_tokens(account)
    if not tokens or not tokens.get("access_token"):
        raise no_active_account(connection, identifier, account.status)
    return str(tokens["access_token"])
