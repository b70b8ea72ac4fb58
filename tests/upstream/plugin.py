"""Pytest fixture for the upstream MCP test server (``tests.upstream.server``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.upstream.server import UpstreamServer, run_upstream


@pytest.fixture
def upstream_mcp() -> Iterator[UpstreamServer]:
    """A fresh upstream MCP server per test (its tool set may be changed by the test)."""
    with run_upstream() as upstream:
        yield upstream
