"""Audit what the lower apps announce (``tenants.signals``): they cannot import audit."""

from __future__ import annotations

from typing import Any

from tenants import signals as tenant_signals

from .services import audit_auth_failure, audit_record_for_tenant


def _tenant_changed(
    sender: Any, *, tenant: Any, event_type: str, actor: str, extra: dict, **_: Any
) -> None:
    audit_record_for_tenant(tenant=tenant, event_type=event_type, actor=actor, extra=extra)


def _api_auth_failed(
    sender: Any,
    *,
    tenant: Any,
    surface: str,
    source: str,
    reason: str,
    extra: dict,
    **_: Any,
) -> None:
    audit_auth_failure(tenant=tenant, surface=surface, source=source, reason=reason, extra=extra)


def connect() -> None:
    tenant_signals.tenant_changed.connect(_tenant_changed, dispatch_uid="audit.tenant_changed")
    tenant_signals.api_auth_failed.connect(_api_auth_failed, dispatch_uid="audit.api_auth_failed")
