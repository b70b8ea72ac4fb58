"""OAuth errors as the RFCs spell them: ``{"error": …, "error_description": …}``, always JSON.

Raised anywhere in the flow; ``views`` turns them into responses (or, once the client and its
redirect URI are known, into an error redirect back to the client, RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

from django.http import JsonResponse


class OAuthError(Exception):
    """An RFC 6749 / 7591 / 8707 error: ``error`` is the registered code."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> JsonResponse:
        response = JsonResponse(
            {"error": self.error, "error_description": self.description}, status=self.status
        )
        response["Cache-Control"] = "no-store"
        if self.status == 401:
            response["WWW-Authenticate"] = f'Bearer error="{self.error}"'
        return response


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, status=401)


def invalid_target(description: str) -> OAuthError:
    return OAuthError("invalid_target", description)


def access_denied(description: str) -> OAuthError:
    return OAuthError("access_denied", description, status=403)


def not_configured(tenant_slug: str) -> OAuthError:
    """The tenant has no identity source: tokens come from its backend, not from a sign-in."""
    return OAuthError(
        "interactive_sign_in_not_configured",
        f"Tenant '{tenant_slug}' has no identity source configured, so vmcp does not sign users "
        "in for it. Its session tokens are issued by the tenant's backend "
        f"(POST /t/{tenant_slug}/api/v1/mcp/configs/<id>/tokens) and sent as a Bearer token.",
        status=404,
    )
