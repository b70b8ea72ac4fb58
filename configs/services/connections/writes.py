"""Writes for connections: create, update and delete; secrets go to the vault, nowhere else."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import EventType
from audit.services import audit_record
from configs.models import NAME_VALIDATOR, Connection
from connectors.openapi import OPENAPI_CONNECTOR
from vault.models import ConnectedAccount, OAuthState, Secret
from vault.secrets import secret_delete, secret_put, secrets_delete_for_owners
from vmcp_platform.errors import Conflict

from .changes import announce_configs
from .openapi import Imported, openapi_import
from .reimport import credential_move, reimport, tools_changes
from .upstream_oauth import (
    UpstreamOAuthSetup,
    is_upstream_oauth,
    upstream_oauth_prepare,
    upstream_oauth_store,
)
from .validation import (
    invalid,
    require_secrets,
    validate_kind,
    validate_secrets,
    validate_settings,
)


def _put_secrets(connection: Connection, secrets: dict[str, str]) -> None:
    for field, value in secrets.items():
        secret_put(
            owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field=field, value=value
        )


def connection_create(
    *,
    name: str,
    connector: str,
    auth_type: str,
    settings: dict[str, Any] | None,
    secrets: dict[str, str] | None,
    actor: str,
) -> Connection:
    """Create a connection; its secrets go to the vault in the same transaction."""
    if not isinstance(name, str) or not NAME_VALIDATOR.regex.match(name):
        raise invalid(str(NAME_VALIDATOR.message), field="name")
    validate_kind(connector, auth_type)
    tool_fields: dict[str, Any] = {}
    if connector == OPENAPI_CONNECTOR:
        imported = openapi_import(name=name, auth_type=auth_type, settings=settings or {})
        clean, tool_fields = imported.settings, _tool_fields(imported, old=None)
    else:
        clean = validate_settings(connector, auth_type, settings or {})
    clean_secrets = validate_secrets(connector, auth_type, secrets)
    setup: UpstreamOAuthSetup | None = None
    if is_upstream_oauth(connector, auth_type):
        require_secrets(
            Connection(connector=connector, auth_type=auth_type, settings=clean),
            set(clean_secrets),
        )
        # Before anything is stored: a refused discovery changes nothing.
        setup = upstream_oauth_prepare(
            settings=clean, has_client_secret="client_secret" in clean_secrets
        )
    try:
        with transaction.atomic():
            connection = Connection.objects.create(
                name=name, connector=connector, auth_type=auth_type, settings=clean, **tool_fields
            )
            require_secrets(connection, set(clean_secrets))
            _put_secrets(connection, clean_secrets)
            if setup is not None:
                upstream_oauth_store(connection=connection, setup=setup)
            audit_record(
                event_type=EventType.CONNECTION_CREATED,
                actor=actor,
                connection_name=name,
                extra={
                    "connector": connector,
                    "auth_type": auth_type,
                    "settings_keys": sorted(clean),
                    "vault_fields": sorted(clean_secrets),
                    **_registration_audit(setup),
                },
            )
    except IntegrityError:
        raise Conflict(
            f"A connection named {name!r} already exists.", details={"name": name}
        ) from None
    return connection


def connection_update(
    *,
    connection: Connection,
    settings: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    actor: str,
    confirm_credential_move: bool = False,
) -> Connection:
    """Change settings (merged; a ``null`` value removes a key) and/or replace secrets.

    The name, connector and auth type are fixed: agents and configs refer to them. A
    connection whose stored credentials would go to another host needs
    ``confirm_credential_move`` (``reimport.credential_move`` says why).
    """
    if settings is not None and not isinstance(settings, dict):
        raise invalid("settings must be an object.")
    clean_secrets = validate_secrets(connection.connector, connection.auth_type, secrets)
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        before = dict(connection.settings or {})
        changed_keys: list[str] = []
        moved: dict[str, Any] | None = None
        imported: Imported | None = None
        is_openapi = connection.connector == OPENAPI_CONNECTOR
        if settings and is_openapi and ("document" in settings or "document_url" in settings):
            imported = reimport(connection, settings)
            clean = imported.settings
        elif settings:
            merged = {**before, **settings}
            merged = {k: v for k, v in merged.items() if v is not None}
            clean = validate_settings(connection.connector, connection.auth_type, merged)
        if settings:
            # Refused before anything is written: the users' credentials stay where they were.
            moved = credential_move(connection, before, clean, confirmed=confirm_credential_move)
            if imported is not None:
                _store_tools(connection, imported)
            changed_keys = sorted(
                k for k in set(before) | set(clean) if before.get(k) != clean.get(k)
            )
            connection.settings = clean
            connection.save(update_fields=["settings", "updated_at"])
        _put_secrets(connection, clean_secrets)
        if clean_secrets and not changed_keys:
            connection.save(update_fields=["updated_at"])
        setup = _rediscover(connection, changed_keys, set(clean_secrets))
        expired = _expire_upstream_tokens(connection, moved)
        audit_record(
            event_type=EventType.CONNECTION_CHANGED,
            actor=actor,
            connection_name=connection.name,
            extra={
                "settings_changed": changed_keys,
                "vault_fields": sorted(clean_secrets),
                # Not "credential…": the audit redacts keys that sound like secrets.
                **({"host_change_confirmed": moved["fields"]} if moved else {}),
                **({"accounts_expired": expired} if expired else {}),
                **_registration_audit(setup),
            },
        )
    return connection


def _rediscover(
    connection: Connection, changed_keys: list[str], new_secrets: set[str]
) -> UpstreamOAuthSetup | None:
    """An OAuth upstream whose server or client changed is discovered and registered again
    (inside the update's transaction: a refusal rolls the whole change back)."""
    if not is_upstream_oauth(connection.connector, connection.auth_type):
        return None
    if not (set(changed_keys) & {"server_url", "client_id", "token_endpoint_auth_method"}) and (
        "client_secret" not in new_secrets
    ):
        return None
    from vault.secrets import secret_fields

    present = set(secret_fields(owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk))
    require_secrets(connection, present)
    setup = upstream_oauth_prepare(
        settings=connection.settings, has_client_secret="client_secret" in present
    )
    upstream_oauth_store(connection=connection, setup=setup)
    return setup


def _expire_upstream_tokens(connection: Connection, moved: dict[str, Any] | None) -> int:
    """After a confirmed move of an OAuth upstream MCP server: its users reconnect.

    Their tokens were issued by the old server's authorization server for the old resource
    (RFC 8707): the new server should not be handed them, nor accept them. The accounts stay
    (EXPIRED, with a reason) and their tokens are destroyed; how many is audited.
    """
    if not moved or "server_url" not in moved["fields"]:
        return 0
    if not is_upstream_oauth(connection.connector, connection.auth_type):
        return 0
    accounts = connection.accounts.exclude(
        status__in=[ConnectedAccount.Status.REVOKED, ConnectedAccount.Status.PENDING_AUTH]
    )
    account_ids = list(accounts.values_list("pk", flat=True))
    secrets_delete_for_owners(owner_type=Secret.OwnerType.ACCOUNT, owner_ids=account_ids)
    ConnectedAccount.objects.filter(pk__in=account_ids).update(
        status=ConnectedAccount.Status.EXPIRED,
        token_expires_at=None,
        last_error=(
            f"The connection's server moved to {moved['to']['server_url']}; "
            "reconnect to authorize it."
        ),
        updated_at=timezone.now(),
    )
    return len(account_ids)


def _registration_audit(setup: UpstreamOAuthSetup | None) -> dict[str, Any]:
    if setup is None:
        return {}
    registration = setup.stored["registration"]
    return {
        "registration_method": registration["method"],
        "issuer": setup.stored["discovery"]["issuer"][:300],
    }


def _tool_fields(imported: Imported, *, old: list[dict[str, Any]] | None) -> dict[str, Any]:
    names = sorted(t["name"] for t in imported.tools)
    changes = (
        tools_changes(old, imported.tools)
        if old is not None
        else {"added": names, "removed": [], "changed": []}
    )
    # What could not become a tool, and why, for the admin (returned with the connection).
    changes["skipped"] = imported.skipped
    return {"tools": imported.tools, "tools_synced_at": timezone.now(), "tools_changes": changes}


def _store_tools(connection: Connection, imported: Imported) -> None:
    """A re-imported document's tools replace the old ones; the diff is kept for the admin."""
    for field, value in _tool_fields(imported, old=connection.tools or []).items():
        setattr(connection, field, value)
    connection.save(update_fields=["tools", "tools_synced_at", "tools_changes", "updated_at"])
    announce_configs(connection)


def connection_delete(*, connection: Connection, actor: str) -> None:
    """Delete a connection with its accounts; their secrets are destroyed with them."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        account_ids = list(connection.accounts.values_list("pk", flat=True))
        state_ids = list(
            OAuthState.objects.filter(account_id__in=account_ids).values_list("pk", flat=True)
        )
        destroyed = secret_delete(owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk)
        destroyed += secrets_delete_for_owners(
            owner_type=Secret.OwnerType.ACCOUNT, owner_ids=account_ids
        )
        destroyed += secrets_delete_for_owners(
            owner_type=Secret.OwnerType.OAUTH_STATE, owner_ids=state_ids
        )
        announce_configs(connection)
        name = connection.name
        connection.delete()
        audit_record(
            event_type=EventType.CONNECTION_DELETED,
            actor=actor,
            connection_name=name,
            extra={"accounts_deleted": len(account_ids), "vault_rows_destroyed": destroyed},
        )
