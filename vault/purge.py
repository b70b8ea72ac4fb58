"""The vault's kinds of the retention purge (``audit.purge``): spent or expired OAuth states
(with their PKCE verifiers, in the same transaction), orphaned verifiers, and connect links.
"""

# The SQL below is assembled only from quoted model table names and constant clauses; every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.purge import PurgeKind, Where, purge_kind_register, quote

from .models import ConnectLink, OAuthState, Secret


def _verifier() -> str:
    return Secret.OwnerType.OAUTH_STATE.value


def _spent_where(*, tenant: Any, now: datetime) -> Where:
    return "used_at IS NOT NULL OR expires_at < %s", [now]


def _orphaned_verifiers_where(*, tenant: Any, now: datetime) -> Where:
    # PKCE verifiers whose state is gone (deleted with it, or left behind by a crash).
    state, secret = quote(OAuthState._meta.db_table), quote(Secret._meta.db_table)
    return (
        f"owner_type = %s AND NOT EXISTS (SELECT 1 FROM {state} st "
        f"WHERE st.id = {secret}.owner_id)",
        [_verifier()],
    )


def _states_batch(table: str, batch: str) -> tuple[str, list[object]]:
    # A state's PKCE verifier goes in the same transaction as the state.
    secret = quote(Secret._meta.db_table)
    return (
        f"WITH gone AS (DELETE FROM {table} WHERE id IN ({batch}) RETURNING id), "
        f"secrets AS (DELETE FROM {secret} s USING gone "
        f"WHERE s.owner_type = %s AND s.owner_id = gone.id RETURNING s.id) "
        f"SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM secrets)"
    ), [_verifier()]


def _states_verifiers_count(where: str, params: list[object]) -> Where:
    # Verifiers of the states that would go, on top of already orphaned ones.
    state, secret = quote(OAuthState._meta.db_table), quote(Secret._meta.db_table)
    return (
        f"SELECT count(*) FROM {secret} WHERE owner_type = %s AND owner_id IN "
        f"(SELECT id FROM {state} WHERE {where})"
    ), [_verifier(), *params]


def _links_batch(table: str, batch: str) -> tuple[str, list[object]]:
    # The FK from OAuthState is SET_NULL in Django only; in SQL, detach states first.
    state = quote(OAuthState._meta.db_table)
    return (
        f"WITH batch AS ({batch}), "
        f"detached AS (UPDATE {state} SET link_id = NULL "
        f"WHERE link_id IN (SELECT id FROM batch) RETURNING 1), "
        f"gone AS (DELETE FROM {table} WHERE id IN (SELECT id FROM batch) RETURNING 1) "
        f"SELECT (SELECT count(*) FROM gone), 0"
    ), []


def register() -> None:
    purge_kind_register(
        PurgeKind(
            name="oauth_states",
            order=30,
            table=OAuthState._meta.db_table,
            where=_spent_where,
            batch_sql=_states_batch,
            cascades_into="oauth_state_secrets",
            count_cascade=_states_verifiers_count,
        )
    )
    purge_kind_register(
        PurgeKind(
            name="oauth_state_secrets",
            order=40,
            table=Secret._meta.db_table,
            where=_orphaned_verifiers_where,
        )
    )
    purge_kind_register(
        PurgeKind(
            name="connect_links",
            order=50,
            table=ConnectLink._meta.db_table,
            where=_spent_where,
            batch_sql=_links_batch,
        )
    )
