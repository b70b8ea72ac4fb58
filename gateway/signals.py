"""Signal receivers that push changes to open MCP streams (across processes, via Channels).

* ``configs.signals.config_changed`` (sent on commit by the configs services) →
  every open stream of that config gets ``notifications/tools/list_changed``.
* A session token saved with ``revoked_at`` set → its streams end at once. Streams also
  re-check their token on every heartbeat, which covers expiry and any revocation path
  that does not save the model.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from gateway.mcp import streams


def on_config_changed(sender: Any, *, config_id: Any, tenant_schema: str, **kwargs: Any) -> None:
    streams.broadcast(streams.config_group(tenant_schema, str(config_id)), streams.TOOLS_CHANGED)


def on_session_token_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if getattr(instance, "revoked_at", None) is None:
        return
    group = streams.token_group(connection.schema_name, str(instance.pk))
    transaction.on_commit(lambda: streams.broadcast(group, streams.CLOSE))


def connect() -> None:
    from django.db.models.signals import post_save

    from configs.models import SessionToken

    post_save.connect(on_session_token_saved, sender=SessionToken, dispatch_uid="mcp-token-revoked")
    try:
        from configs.signals import config_changed
    except ImportError:  # the configs services define it; until then only heartbeats apply
        return
    config_changed.connect(on_config_changed, dispatch_uid="mcp-config-changed")
