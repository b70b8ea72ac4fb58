"""Reads for connected accounts (current tenant schema)."""

from __future__ import annotations

from django.db.models import QuerySet

from configs.models import Connection
from vault.models import ConnectedAccount
from vmcp_platform.errors import NotFound, ValidationFailed
from vmcp_platform.pagination import DESC, OrderFields, ordering

# Newest first; the id breaks ties between accounts created in the same microsecond.
ACCOUNT_ORDER: OrderFields = (("created_at", DESC), ("id", DESC))


def account_get(*, account_id: int) -> ConnectedAccount:
    """One account of this tenant; another tenant's id simply does not exist here."""
    account = ConnectedAccount.objects.select_related("connection").filter(pk=account_id).first()
    if account is None:
        raise NotFound("No such connected account.", details={"id": account_id})
    return account


def account_for(*, connection: Connection, identifier: str) -> ConnectedAccount | None:
    return (
        ConnectedAccount.objects.select_related("connection")
        .filter(connection=connection, identifier=identifier)
        .first()
    )


def account_status_for(*, connection: Connection, identifier: str) -> str | None:
    """The user's account status on the connection, None when they have none."""
    return (
        ConnectedAccount.objects.filter(connection=connection, identifier=identifier)
        .values_list("status", flat=True)
        .first()
    )


def account_list(
    *,
    identifier: str | None = None,
    connection_name: str | None = None,
    status: str | None = None,
) -> QuerySet[ConnectedAccount]:
    """Accounts newest first (``ACCOUNT_ORDER``), filtered; ready for ``keyset_page``."""
    accounts = ConnectedAccount.objects.select_related("connection")
    if identifier:
        accounts = accounts.filter(identifier=identifier)
    if connection_name:
        accounts = accounts.filter(connection__name=connection_name)
    if status:
        if status not in ConnectedAccount.Status.values:
            raise ValidationFailed(
                f"status must be one of {', '.join(ConnectedAccount.Status.values)}.",
                details={"field": "status"},
            )
        accounts = accounts.filter(status=status)
    return accounts.order_by(*ordering(ACCOUNT_ORDER))
