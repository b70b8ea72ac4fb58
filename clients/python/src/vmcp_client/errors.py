"""One exception class per error code of the API.

The API answers every error as ``{"error": {"code", "message", "details"}}``. ``error_for``
turns that into the class registered for the code; a code this client does not know yet falls
back to the class of its HTTP status (``NotFoundError`` for a 404, …), and then to
``VmcpError``. Every class keeps ``status``, ``code``, ``message``, ``details`` and, where the
server sent one, ``retry_after`` (seconds) and ``request_id``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class VmcpError(Exception):
    """Base of every error this client raises for an API answer."""

    code: ClassVar[str] = "error"
    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status or type(self).status
        # An instance may carry a code its class does not name (a code newer than the client).
        self.error_code = code or type(self).code
        self.details = details or {}
        self.retry_after = retry_after
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.error_code} ({self.status}): {self.message}"


class TransportError(VmcpError):
    """The request never got an answer (connection refused, timeout), after the retries."""

    code = "transport_error"


# ------------------------------------------------------------------ by HTTP status


class BadRequestError(VmcpError):
    code = "bad_request"
    status = 400


class AuthenticationError(VmcpError):
    code = "unauthenticated"
    status = 401


class PermissionDeniedError(VmcpError):
    code = "permission_denied"
    status = 403


class NotFoundError(VmcpError):
    code = "not_found"
    status = 404


class MethodNotAllowedError(VmcpError):
    code = "method_not_allowed"
    status = 405


class NotAcceptableError(VmcpError):
    code = "not_acceptable"
    status = 406


class ConflictError(VmcpError):
    code = "conflict"
    status = 409


class UnsupportedMediaTypeError(VmcpError):
    code = "unsupported_media_type"
    status = 415


class RateLimitedError(VmcpError):
    """429: ``retry_after`` says when to try again; ``details["scope"]`` which limit it was."""

    code = "rate_limited"
    status = 429


class InternalError(VmcpError):
    code = "internal_error"
    status = 500


class ProviderError(VmcpError):
    """502: the provider failed the call (``details``: provider_status, reason, execution_id)."""

    code = "provider_error"
    status = 502


class ServiceUnavailableError(VmcpError):
    """503: a dependency is down; nothing was run."""

    code = "service_unavailable"
    status = 503


# ------------------------------------------------------------------ by code


class ValidationError(BadRequestError):
    code = "validation_error"


class MalformedRequestError(BadRequestError):
    code = "malformed_request"


class InvalidOpenapiDocumentError(ValidationError):
    """An ``openapi`` connection's document is malformed, unsupported or too large."""

    code = "invalid_openapi_document"


class VaultDecryptionFailedError(InternalError):
    code = "vault_decryption_failed"


class AmbiguousToolError(BadRequestError):
    """Several connections have a tool of that name: pass ``connection_name``."""

    code = "ambiguous_tool"


class UnknownToolError(NotFoundError):
    code = "unknown_tool"


class UnknownConnectionError(NotFoundError):
    code = "unknown_connection"


class AlreadyExistsError(ConflictError):
    code = "already_exists"


class MissingConnectedAccountsError(ConflictError):
    """The user lacks an ACTIVE account a server needs; ``details["missing_connections"]``
    lists each connection with a fresh ``authorization_url``."""

    code = "missing_connected_accounts"


class NoActiveAccountError(ConflictError):
    code = "no_active_account"


class AccountExpiredError(ConflictError):
    code = "account_expired"


class ConnectionNotConfiguredError(ConflictError):
    code = "connection_not_configured"


class ConnectionNeedsNoAccountError(BadRequestError):
    code = "connection_needs_no_account"


class ConnectionNotOauthError(BadRequestError):
    code = "connection_not_oauth"


class ConnectionNotApiKeyError(BadRequestError):
    code = "connection_not_api_key"


class ConnectionMisconfiguredError(ConflictError):
    code = "connection_misconfigured"


class CredentialsWouldMoveError(ConflictError):
    """A change would send credentials users stored to another host; repeat it with
    ``confirm_credential_move: true`` if that is meant."""

    code = "credentials_would_move"


class UpstreamOAuthError(BadRequestError):
    """vmcp could not discover or register with an upstream MCP server's authorization
    server; the message names the step."""

    code = "upstream_oauth_failed"


class UpstreamOAuthRefusedError(UpstreamOAuthError):
    code = "upstream_oauth_refused"


class UpstreamOAuthResourceMismatchError(UpstreamOAuthError):
    code = "upstream_oauth_resource_mismatch"


class UpstreamOAuthIssuerMismatchError(UpstreamOAuthError):
    code = "upstream_oauth_issuer_mismatch"


class UpstreamOAuthNoRegistrationError(UpstreamOAuthError):
    code = "upstream_oauth_no_registration"


class TokenPredatesRevocationError(PermissionDeniedError):
    code = "token_predates_revocation"


class CredentialUnavailableError(ServiceUnavailableError):
    code = "credential_unavailable"


class ProviderUnavailableError(ServiceUnavailableError):
    code = "provider_unavailable"


_BY_STATUS: dict[int, type[VmcpError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        MethodNotAllowedError,
        NotAcceptableError,
        ConflictError,
        UnsupportedMediaTypeError,
        RateLimitedError,
        InternalError,
        ProviderError,
        ServiceUnavailableError,
    )
}


def _all_subclasses(cls: type[VmcpError]) -> list[type[VmcpError]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_all_subclasses(sub)]
    return out


ERRORS_BY_CODE: dict[str, type[VmcpError]] = {
    cls.code: cls for cls in _all_subclasses(VmcpError) if cls is not TransportError
}


def error_for_code(code: str, status: int) -> type[VmcpError]:
    """The class for an error code; for an unknown code, the class of its status."""
    return ERRORS_BY_CODE.get(code) or _BY_STATUS.get(status) or VmcpError


def error_from_response(
    status: int, body: Any, *, retry_after: float | None, request_id: str | None
) -> VmcpError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        # Not the API's shape (a proxy's page): keep the status, say what came back.
        cls = _BY_STATUS.get(status, VmcpError)
        return cls(
            f"HTTP {status} without an API error body",
            status=status,
            retry_after=retry_after,
            request_id=request_id,
        )
    code = str(error.get("code") or "error")
    cls = error_for_code(code, status)
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    return cls(
        str(error.get("message") or code),
        status=status,
        code=code,
        details=details,
        retry_after=retry_after,
        request_id=request_id,
    )
