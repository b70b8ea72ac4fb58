"""configs' kind of the retention purge (``audit.purge``): expired session tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from audit.purge import PurgeKind, Where, purge_kind_register

from .models import SessionToken

# Expired session tokens are kept a day, so "why was I refused?" can still be answered.
SESSION_TOKEN_GRACE = timedelta(days=1)


def _session_tokens_where(*, tenant: Any, now: datetime) -> Where:
    return "expires_at < %s", [now - SESSION_TOKEN_GRACE]


def register() -> None:
    purge_kind_register(
        PurgeKind(
            name="session_tokens",
            order=20,
            table=SessionToken._meta.db_table,
            where=_session_tokens_where,
        )
    )
