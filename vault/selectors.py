"""Reads for connected accounts (current tenant schema)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q, QuerySet

from configs.models import Connection
from vmcp_platform.errors import NotFound, ValidationFailed

from .models import ConnectedAccount


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
    """Accounts newest first (created_at, id), filtered; ready for ``paginate``."""
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
    return accounts.order_by("-created_at", "-id")


# ------------------------------------------------------------------ cursor pages


def encode_cursor(account: ConnectedAccount) -> str:
    raw = json.dumps([account.created_at.isoformat(), account.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, pk = json.loads(raw)
        return datetime.fromisoformat(created), int(pk)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationFailed(
            "cursor is not valid; use next_cursor from a previous page.",
            details={"field": "cursor"},
        ) from None


def paginate(
    accounts: QuerySet[ConnectedAccount], *, cursor: str | None, limit: int
) -> tuple[list[ConnectedAccount], str | None]:
    """One page after ``cursor`` of a (-created_at, -id) queryset and the next cursor."""
    if cursor:
        created, pk = _decode_cursor(cursor)
        accounts = accounts.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=pk))
    page = list(accounts[: limit + 1])
    if len(page) > limit:
        page = page[:limit]
        return page, encode_cursor(page[-1])
    return page, None
