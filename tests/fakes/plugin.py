"""pytest fixtures for the fake providers.

Enable with ``pytest_plugins = ["tests.fakes.plugin"]`` in the root conftest, or import the
fixtures into a local conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.providers import FakeProviders


@pytest.fixture(scope="session")
def fake_providers_server() -> Iterator[FakeProviders]:
    """One server for the whole session; prefer ``fake_providers``, which resets it."""
    with FakeProviders() as fake:
        yield fake


@pytest.fixture
def fake_providers(fake_providers_server: FakeProviders) -> FakeProviders:
    """The running fake Google, Slack and GitHub, with fresh state for this test."""
    fake_providers_server.reset()
    return fake_providers_server
