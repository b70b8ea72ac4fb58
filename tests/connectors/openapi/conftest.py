"""The public documents are npm packages, installed on first use (see install.sh)."""

from __future__ import annotations

import pytest

from .support import ensure_documents


@pytest.fixture(scope="session", autouse=True)
def _documents() -> None:
    ensure_documents()
