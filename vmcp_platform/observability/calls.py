"""The provider call's timer and span, for ``gateway.execution.core.tool_execute`` (one line)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from . import tracing

T = TypeVar("T")


async def provider_call(record: Any, connector: str, awaitable: Awaitable[T]) -> T:
    """``await awaitable`` (the provider call) in a ``vmcp.provider`` span, timing it into
    ``record.provider_seconds`` whatever happens (the split of ``vmcp_tool_call_duration``)."""
    start = time.monotonic()
    try:
        if not tracing.ENABLED:
            return await awaitable
        with tracing.span(tracing.PROVIDER, **{"vmcp.connector": connector}):
            return await awaitable
    finally:
        record.provider_seconds = time.monotonic() - start
