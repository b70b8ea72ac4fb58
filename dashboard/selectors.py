"""Reads behind the dashboard's overview (current tenant schema); its activity figures are in
``dashboard.activity``.

The dashboard owns no data; these only count rows other apps wrote.
"""

from __future__ import annotations

from django.utils import timezone


def overview_counts() -> dict[str, int]:
    """What the tenant has configured, at a glance."""
    from configs.models import Connection, McpConfig, SessionToken
    from vault.models import ConnectedAccount

    now = timezone.now()
    return {
        "connections": Connection.objects.count(),
        "servers": McpConfig.objects.count(),
        "active_accounts": ConnectedAccount.objects.filter(
            status=ConnectedAccount.Status.ACTIVE
        ).count(),
        "active_tokens": SessionToken.objects.filter(
            revoked_at__isnull=True, expires_at__gt=now
        ).count(),
    }
