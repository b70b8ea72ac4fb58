"""Re-importing an openapi connection's document: what would change, before it does.

``openapi_preview`` compiles the new document exactly as the re-import would (same settings
carried over, same checks) and reports the tool diff and its effect on each virtual server,
without storing anything. Virtual servers keep their allow-lists across a re-import: a listed
tool the new document no longer has simply stops being exposed (``configs.tools`` skips it),
and comes back if a later document has it again; a ``"*"`` mapping gains the added tools.

``credential_move`` is the guard for the other half of a change: moving where the stored
credentials are sent (for every connection with a ``server_url``, an upstream MCP server's too).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from configs.models import Connection, ToolMapping
from configs.selectors import MCP_CONNECTOR
from connectors.openapi import PLAN_KEY
from vault.models import Secret
from vmcp_platform.errors import Conflict

from .changes import tools_diff
from .openapi import Imported, openapi_import

# Settings a re-import keeps unless the patch says otherwise.
CARRIED = ("server_url", "client_id", "scopes")
# The parts of a tool definition a diff names (the request plan is "request").
COMPARED = ("description", "inputSchema", "outputSchema", "annotations")


def reimport_settings(before: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The import settings for a new document: the patch over what the connection keeps."""
    carried = {k: before[k] for k in CARRIED if k in before}
    wanted = {**carried, **{k: v for k, v in patch.items() if v is not None}}
    if "auth" in before and "auth" not in wanted and "security_scheme" not in wanted:
        scheme = before["auth"].get("scheme")
        if isinstance(scheme, str):
            # Read again from the new document: its flow URLs or key placement may have
            # changed, and that must show (and be guarded) rather than be masked by the old.
            wanted["security_scheme"] = scheme
        else:
            wanted["auth"] = before["auth"]  # the admin's own placement, not the document's
    return wanted


def reimport(connection: Connection, patch: dict[str, Any]) -> Imported:
    """Compile the patch's document for ``connection``; raises on any problem, stores nothing."""
    wanted = reimport_settings(dict(connection.settings or {}), patch)
    return openapi_import(name=connection.name, auth_type=connection.auth_type, settings=wanted)


def _changed_parts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    parts = [key for key in COMPARED if old.get(key) != new.get(key)]
    if old.get(PLAN_KEY) != new.get(PLAN_KEY):
        parts.append("request")
    return parts


def tools_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """``tools_diff`` plus, for each changed tool, which parts of it changed."""
    diff: dict[str, Any] = tools_diff(old, new)
    before = {t.get("name"): t for t in old}
    after = {t.get("name"): t for t in new}
    diff["changed_parts"] = {
        name: _changed_parts(before[name], after[name]) for name in diff["changed"]
    }
    return diff


def servers_affected(connection: Connection, diff: dict[str, Any]) -> list[dict[str, Any]]:
    """Per virtual server using ``connection``: the tools it would stop or start exposing."""
    removed, added = set(diff["removed"]), list(diff["added"])
    affected = []
    for mapping in (
        ToolMapping.objects.filter(connection=connection)
        .select_related("config")
        .order_by("config__name")
    ):
        if mapping.exposes_all:
            lost, gained = sorted(removed), added
        else:
            lost, gained = sorted(removed & set(mapping.tools)), []
        entry = {
            "config_id": str(mapping.config_id),
            "config_name": mapping.config.name,
            "exposes_all": mapping.exposes_all,
            "tools_removed": lost,
            "tools_added": gained,
            # The allow-list is kept as it is: names it lists that the document dropped stay
            # listed (and unexposed), so a later document that has them again brings them back.
            "allow_list_kept": not mapping.exposes_all,
        }
        if lost or gained:
            affected.append(entry)
    return affected


def openapi_preview(*, connection: Connection, settings: dict[str, Any]) -> dict[str, Any]:
    """What re-importing with ``settings`` would change; nothing is stored."""
    imported = reimport(connection, settings)
    diff = tools_changes(connection.tools or [], imported.tools)
    before = connection.settings or {}
    return {
        **diff,
        "skipped": imported.skipped,
        "tools_count": len(imported.tools),
        "document_info": imported.settings.get("document_info", {}),
        "previous_document_info": before.get("document_info", {}),
        "settings_changed": sorted(
            k
            for k in set(before) | set(imported.settings)
            if k != "document_info" and before.get(k) != imported.settings.get(k)
        ),
        "servers_affected": servers_affected(connection, diff),
        "credential_move": credential_move_summary(connection, before, imported.settings),
    }


# ------------------------------------------------------------------ where credentials go


def _origin(url: Any) -> str | None:
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def credential_targets(settings: dict[str, Any]) -> dict[str, str | None]:
    """The origins the connection's stored credentials are sent to."""
    auth = settings.get("auth") or {}
    return {
        "server_url": _origin(settings.get("server_url")),
        "token_url": _origin(auth.get("token_url")),
        "refresh_url": _origin(auth.get("refresh_url")),
    }


def _holders(connection: Connection, fields: list[str]) -> int:
    """How many credentials stored for ``connection`` go where ``fields`` point: users'
    keys/tokens, the shared header or credential, and the OAuth client secret when it goes
    along."""
    account_ids = list(connection.accounts.values_list("pk", flat=True))
    users = (
        Secret.objects.filter(owner_type=Secret.OwnerType.ACCOUNT, owner_id__in=account_ids)
        .values("owner_id")
        .distinct()
        .count()
    )
    own = ["shared_credential", "shared_header"]
    # The client secret goes to the token URL with every exchange and refresh: an openapi
    # document's, or the authorization server an MCP upstream's server URL leads to.
    if connection.connector == MCP_CONNECTOR or set(fields) & {"token_url", "refresh_url"}:
        own.append("client_secret")
    stored = Secret.objects.filter(
        owner_type=Secret.OwnerType.CONNECTION, owner_id=connection.pk, field__in=own
    ).count()
    return users + stored


def credential_move_summary(
    connection: Connection, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any] | None:
    """None when the stored credentials would keep going where they went; else what moves."""
    old, new = credential_targets(before), credential_targets(after)
    moved = sorted(key for key in old if old[key] and old[key] != new[key])
    if not moved:
        return None
    holders = _holders(connection, moved)
    if not holders:
        return None
    return {"fields": moved, "credentials": holders, "from": old, "to": new}


def credential_move(
    connection: Connection, before: dict[str, Any], after: dict[str, Any], *, confirmed: bool
) -> dict[str, Any] | None:
    """Refuse to move stored credentials to another host unless the admin confirmed it.

    The users' keys and tokens (and the shared credential, and the OAuth client secret where
    it goes along) were issued for the old host and are sent with every call: pointing the
    connection at another host would hand them to whoever runs it (a typo, a lookalike
    domain, an internal service). The admin can revoke the accounts first, or confirm that
    the new host is the same API; the move is audited.
    """
    moved = credential_move_summary(connection, before, after)
    if moved is None or confirmed:
        return moved
    raise Conflict(
        f"{moved['credentials']} stored credential(s) of connection '{connection.name}' were "
        f"issued for {', '.join(str(moved['from'][f]) for f in moved['fields'])}; this change "
        f"would send them to {', '.join(str(moved['to'][f]) for f in moved['fields'])}. "
        "Revoke the accounts first, or repeat with confirm_credential_move: true.",
        code="credentials_would_move",
        details={"fields": moved["fields"], "credentials": moved["credentials"]},
    )
