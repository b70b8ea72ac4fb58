"""OpenAPI additions: the API-key bearer scheme, the tenant path parameter, the error shape.

Loaded as ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``, which also registers the authentication
extension before drf-spectacular inspects any view.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. validation_error, not_found.")
    message = serializers.CharField(help_text="For humans; never contains a secret.")
    details = serializers.DictField(
        help_text="Structured context, e.g. the invalid field → what is wrong."
    )

    class Meta:
        ref_name = "ErrorBody"


class ErrorResponseSerializer(serializers.Serializer):
    """The API's one error shape."""

    error = ErrorBodySerializer()

    class Meta:
        ref_name = "Error"


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "tenantApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "vmcp_sk_…",
            "description": "A tenant API key, valid only under its own /t/{tenant}/ prefix.",
        }


TENANT_PARAMETER = OpenApiParameter(
    "tenant",
    str,
    OpenApiParameter.PATH,
    description="The tenant's slug, e.g. acme.",
)

# Every operation can answer these in the error shape (unknown tenant or object → 404;
# a key of another tenant → 401; an auditor writing → 403; a malformed body or query → 400).
_DEFAULT_ERRORS = {
    "400": "Invalid request (see error.details).",
    "401": "Missing, invalid or revoked API key.",
    "403": "The key's role does not allow this.",
    "404": "No such tenant or object.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: Any) -> str:
        # Views nest InputSerializer/OutputSerializer classes; qualify them by their view so
        # ApiKeyListCreateApi.InputSerializer and ExecuteToolApi.InputSerializer don't collide.
        cls = serializer.__class__
        outer, _, inner = cls.__qualname__.rpartition(".")
        if not outer or "<" in outer:
            return super().get_serializer_name(serializer, direction)
        outer = outer.split(".")[-1]
        return (outer[:-3] if outer.endswith("Api") else outer) + inner

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if "{tenant}" in self.path:
            parameters.append(TENANT_PARAMETER)
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response" or "{tenant}" not in self.path:
            return responses
        for code, description in _DEFAULT_ERRORS.items():
            if code in responses:
                continue
            response = self._get_response_for_code(
                ErrorResponseSerializer, code, direction=direction
            )
            response["description"] = description
            responses[code] = response
        return responses
