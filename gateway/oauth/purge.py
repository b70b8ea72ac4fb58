"""The authorization server's kinds of the retention purge (``audit.purge``).

Authorization rows (one per ``authorize``) are spent within minutes; they are kept a day so a
late "why was I refused?" can still be answered. Refresh tokens go once expired: a used one
must stay until then, or its replay could no longer be recognised (and revoke its family).
Grants stay (the management page shows revoked ones); they go with their config or client.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from audit.purge import PurgeKind, Where, purge_kind_register

from ..models import OAuthAuthorization, OAuthRefreshToken

AUTHORIZATION_GRACE = timedelta(days=1)


def _authorizations_where(*, tenant: Any, now: datetime) -> Where:
    return "expires_at < %s", [now - AUTHORIZATION_GRACE]


def _refresh_tokens_where(*, tenant: Any, now: datetime) -> Where:
    return "expires_at < %s", [now]


def register() -> None:
    purge_kind_register(
        PurgeKind(
            name="oauth_authorizations",
            order=60,
            table=OAuthAuthorization._meta.db_table,
            where=_authorizations_where,
        )
    )
    purge_kind_register(
        PurgeKind(
            name="oauth_refresh_tokens",
            order=70,
            table=OAuthRefreshToken._meta.db_table,
            where=_refresh_tokens_where,
        )
    )
