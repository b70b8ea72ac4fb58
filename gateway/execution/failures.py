"""Provider failures → the message and code an agent (and the audit trail) gets.

The message is what the agent reads in an ``isError`` result, so it says what happened and what
to do (reconnect, retry after N seconds, ask for a scope). Provider text is passed through
``redact`` first: a provider may echo a token in its error body.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from configs.models import Connection
from connectors.base import ToolResult
from vmcp_platform.egress import ResponseTooLarge
from vmcp_platform.errors import ProviderError
from vmcp_platform.logging import redact


@dataclass(frozen=True)
class Failure:
    code: str  # audit error_code and REST details.reason
    message: str
    expire_account: bool = False  # the user's credential was rejected: mark the account EXPIRED
    # An OAuth upstream MCP server's step-up challenge: the scopes a new connect link asks for.
    step_up_scopes: tuple[str, ...] = ()

    def with_link(self, url: str) -> Failure:
        """The step-up message with the connect link the user opens to grant more."""
        return Failure(
            self.code,
            f"{self.message} Ask the user to open this link to grant it: {url}",
            step_up_scopes=self.step_up_scopes,
        )

    def result(self) -> ToolResult:
        return error_result(self.message)

    def error(self, exc: ProviderError) -> ProviderError:
        return ProviderError(
            self.message,
            provider_status=exc.provider_status,
            retry_after=exc.retry_after,
            details={"reason": self.code},
        )


def error_result(message: str) -> ToolResult:
    return ToolResult(content=[{"type": "text", "text": message}], is_error=True)


def provider_failure(exc: ProviderError, *, connection: Connection, identifier: str) -> Failure:
    status = exc.provider_status
    detail = redact(exc.message)
    cause = exc.__cause__
    if isinstance(cause, ResponseTooLarge):
        return Failure("provider_response_too_large", "The provider's response was too large.")
    if isinstance(cause, httpx.TimeoutException) or (
        status is None and "did not answer" in exc.message
    ):
        return Failure("provider_timeout", f"The provider did not answer in time: {detail}")
    if (
        status == 403
        and connection.auth_type == Connection.AuthType.OAUTH2
        and exc.details.get("oauth_error") == "insufficient_scope"
    ):
        scopes = tuple(exc.details.get("oauth_scopes") or ())
        wanted = f" ({' '.join(scopes)})" if scopes else ""
        return Failure(
            "insufficient_scope",
            f"The server needs more permission{wanted} from '{identifier}' on"
            f" '{connection.name}' for this tool.",
            step_up_scopes=scopes,
        )
    if status == 401 and connection.needs_user_credentials:
        return Failure(
            "account_expired",
            f"The provider rejected the credential of '{identifier}' on '{connection.name}'."
            " The account is now EXPIRED; the user must reconnect.",
            expire_account=True,
        )
    if status == 401:
        return Failure(
            "provider_unauthorized",
            f"The server rejected the credential of connection '{connection.name}';"
            " an admin must update the connection.",
        )
    if status == 403:
        return Failure(
            "provider_forbidden",
            f"The provider refused access: {detail}. The account may lack a permission or"
            " scope this tool needs.",
        )
    if status == 404:
        return Failure("provider_not_found", f"Not found at the provider: {detail}")
    if status == 429:
        wait = f" Retry after {exc.retry_after:g} seconds." if exc.retry_after is not None else ""
        return Failure("provider_rate_limited", f"The provider is rate limiting these calls.{wait}")
    return Failure("provider_error", f"The provider call failed: {detail}")
