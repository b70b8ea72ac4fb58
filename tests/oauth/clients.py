"""The mcp SDK's own OAuth client, wired to the headless browser."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from .support import Browser

REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class SignedInClient:
    """One person's MCP client: the SDK's OAuth provider, its storage, the browser it drives."""

    url: str
    login: str
    cimd_url: str | None = None
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    redirects: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.browser = Browser(login=self.login, stop_at=REDIRECT_URI)
        self._pending: dict[str, str] = {}

        async def redirect_handler(authorization_url: str) -> None:
            self._pending = await self.browser.authorize(authorization_url)
            self.redirects.append(self._pending)

        async def callback_handler() -> AuthorizationCodeResult:
            got = self._pending
            if "error" in got:
                raise RuntimeError(
                    f"authorization refused: {got['error']}: {got.get('error_description')}"
                )
            return AuthorizationCodeResult(
                code=got["code"], state=got.get("state"), iss=got.get("iss")
            )

        self.provider = OAuthClientProvider(
            server_url=self.url,
            client_metadata=OAuthClientMetadata(
                redirect_uris=[REDIRECT_URI],
                client_name=f"Test client of {self.login}",
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=self.storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )
        if self.cimd_url:
            # The SDK insists on an https client_id URL; the test's document is served over
            # loopback http (which vmcp accepts only for operator-allowed hosts).
            self.provider.context.client_metadata_url = self.cimd_url

    def session(self, mode: str = "auto") -> Client:
        http = httpx2.AsyncClient(auth=self.provider, timeout=30)
        return Client(streamable_http_client(self.url, http_client=http), mode=mode)
