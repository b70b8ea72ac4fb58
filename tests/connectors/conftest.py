"""Fixtures for the connector tests: the fake providers and a one-call executor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from connectors import get_connector
from connectors.base import ToolResult
from tests.fakes.plugin import fake_providers, fake_providers_server  # noqa: F401
from tests.fakes.providers import FakeProviders

Execute = Callable[..., Awaitable[ToolResult]]


@pytest.fixture
def execute(fake_providers: FakeProviders) -> Execute:  # noqa: F811
    """Call one catalog tool against the fake, as the owner of ``token``."""

    async def run(
        tool_name: str, arguments: dict[str, Any], *, token: str | None, timeout: float = 10.0
    ) -> ToolResult:
        connector = get_connector(tool_name.split("_", 1)[0])
        assert connector is not None
        tool = connector.get_tool(tool_name)
        assert tool is not None, tool_name
        # Local tools make no request, so they have no base URL at the fake.
        base_url = connector.api_base_url
        if connector.auth_kind != "none":
            base_url = fake_providers.url(connector.slug)
        async with httpx.AsyncClient() as client:
            return await connector.execute(
                tool,
                arguments,
                credential=token,
                base_url=base_url,
                client=client,
                timeout=timeout,
            )

    return run
