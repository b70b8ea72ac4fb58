"""The gate every MCP request passes before any method runs: the tenant (deferred by the ASGI
middleware so the warm path can read it with the token, in one statement) and the bearer token,
with the failed-authentication throttle. A mixin of ``McpConsumer``.
"""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async

from gateway.warm.audit import writer as audit_writer
from gateway.warm.state import NotWarm, WarmAuth, warm_authenticate
from tenants.asgi import tenant_for_slug
from vmcp_platform.errors import AuthenticationFailed, NotFound
from vmcp_platform.observability import metrics
from vmcp_platform.tokens import SESSION_TOKEN_PREFIX, is_well_formed

from . import limits
from .dispatcher import Principal
from .http import authenticate, bearer_token, oauth_scope_challenge, resource_metadata_url
from .wire import HttpRefusal


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class RequestGate:
    """``_resolve_tenant`` and ``_authenticate`` of ``McpConsumer``."""

    async def _resolve_tenant(self) -> bool:
        """The tenant the middleware deferred: read with the token by the warm path's one
        statement when it applies (a POST with a well-formed token), else the ORM lookup."""
        slug = self.scope["tenant_slug"]
        secret = bearer_token(self.headers)
        if (
            self.scope["method"] == "POST"
            and secret is not None
            and is_well_formed(secret, SESSION_TOKEN_PREFIX)
            and _is_uuid(self.config_id)
        ):
            try:
                self._warm = await warm_authenticate(
                    slug=slug, config_id=self.config_id, secret=secret
                )
            except NotFound:
                return False
            except NotWarm:
                self._warm = None  # the ORM path decides, as it always did
            except AuthenticationFailed as refused:
                self._warm = refused  # answered at the usual point, after Host/Origin
                self.tenant = await tenant_for_slug(slug)
                return self.tenant is not None
            else:
                self.tenant = self._warm.tenant
                return True
        self.tenant = await tenant_for_slug(slug)
        return self.tenant is not None

    async def _authenticate(self) -> Principal:
        if not _is_uuid(self.config_id):
            raise HttpRefusal(404, "Not found: no such MCP server")
        source = limits.request_source(self.scope, self.headers)
        if isinstance(self._warm, WarmAuth):
            # A valid token gets in whatever its source's failure count (limits.auth_blocked),
            # so the warm path needs no Redis round trip for it.
            warm = self._warm
            if warm.state.touch:
                audit_writer().touch(warm.tenant.schema_name, warm.token_id)
            return Principal(
                tenant=warm.tenant,
                config=warm.config,
                token_id=warm.token_id,
                identifier=warm.identifier,
                warm=warm.state,
            )
        blocked = await limits.auth_blocked(source)
        secret = bearer_token(self.headers)
        challenge = (
            f'Bearer resource_metadata="{resource_metadata_url(self.tenant.slug, self.config_id)}"'
        )
        if secret is None:
            if blocked is not None:
                metrics.count_rate_limited("source", "auth")
                raise blocked
            challenge += await sync_to_async(oauth_scope_challenge)(self.tenant)
            raise HttpRefusal(
                401,
                "Unauthorized: send the session token in the Authorization header (Bearer)",
                headers={"WWW-Authenticate": challenge},
            )
        try:
            if isinstance(self._warm, AuthenticationFailed):
                raise self._warm
            return await sync_to_async(authenticate)(self.tenant, self.config_id, secret)
        except AuthenticationFailed as exc:
            if blocked is not None:
                metrics.count_rate_limited("source", "auth")
                raise blocked from None  # not counted as a failure nor audited again
            await limits.auth_failed(
                tenant=self.tenant,
                source=source,
                reason=str(exc.details.get("reason") or exc.code),
                config_id=str(self.config_id),
            )
            challenge += await sync_to_async(oauth_scope_challenge)(self.tenant)
            raise HttpRefusal(
                401,
                "Unauthorized: the session token is invalid, expired, revoked "
                "or not for this server",
                headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
            ) from None
