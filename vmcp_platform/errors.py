"""One error vocabulary for the whole platform.

Domain code raises these; only the edges translate them: the DRF exception handler into
``{"error": {...}}`` and the MCP consumer into JSON-RPC errors or ``isError`` tool results.
Messages are shown to callers, so they must never contain a secret.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    code: str = "error"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationFailed(ApplicationError):
    code = "validation_error"
    status = 400


class NotFound(ApplicationError):
    code = "not_found"
    status = 404


class Conflict(ApplicationError):
    code = "conflict"
    status = 409


class AuthenticationFailed(ApplicationError):
    code = "unauthenticated"
    status = 401


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        details = {"retry_after": round(retry_after, 3), **kwargs.pop("details", {})}
        super().__init__(message, details=details, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(ApplicationError):
    """A dependency the decision needs is down: refuse rather than proceed unchecked."""

    code = "service_unavailable"
    status = 503


class ProviderError(ApplicationError):
    """The provider (Gmail, Slack, an upstream MCP server, ...) refused or failed a call."""

    code = "provider_error"
    status = 502

    def __init__(
        self,
        message: str,
        *,
        provider_status: int | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        details = dict(kwargs.pop("details", {}))
        if provider_status is not None:
            details["provider_status"] = provider_status
        if retry_after is not None:
            details["retry_after"] = retry_after
        super().__init__(message, details=details, **kwargs)
        self.provider_status = provider_status
        self.retry_after = retry_after
