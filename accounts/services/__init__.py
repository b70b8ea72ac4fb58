"""Writes for connected accounts, connect links, the OAuth connect flow and token refresh."""

from .accounts import (
    account_get_or_create,
    account_mark_expired,
    account_revoke,
    account_store_api_key,
)
from .credentials import account_credential_for_call
from .end_users import EndUserRevocation, end_user_revoke
from .links import CreatedLink, connect_link_create
from .oauth import ConnectFailed, oauth_callback, oauth_redirect_uri, oauth_start
from .refresh import account_refresh, accounts_refresh_expiring

__all__ = [
    "ConnectFailed",
    "CreatedLink",
    "EndUserRevocation",
    "account_credential_for_call",
    "account_get_or_create",
    "account_mark_expired",
    "account_refresh",
    "account_revoke",
    "account_store_api_key",
    "accounts_refresh_expiring",
    "connect_link_create",
    "end_user_revoke",
    "oauth_callback",
    "oauth_redirect_uri",
    "oauth_start",
]
