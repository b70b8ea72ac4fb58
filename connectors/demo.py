"""A connector that needs no account and no network: for trying the platform and for tests.

Its tools run in-process (``Tool.local``), so an agent can exercise tools/list and
tools/call end to end before any real provider is connected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors._schema import number, obj, string
from connectors.base import Connector, Tool
from vmcp_platform.errors import ValidationFailed


def _local_hints(title: str) -> dict[str, Any]:
    # Nothing leaves the process, so unlike provider tools these are closed-world.
    return {
        "title": title,
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": False,
    }


def echo(args: dict[str, Any]) -> str:
    return args["text"]


def current_time(args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone {name!r}", details={"timezone": name}) from exc
    now = datetime.now(UTC).astimezone(zone)
    return {"timezone": name, "iso": now.isoformat(timespec="seconds")}


def add(args: dict[str, Any]) -> dict[str, Any]:
    return {"sum": args["a"] + args["b"]}


TOOLS = (
    Tool(
        name="demo_echo",
        description="Return the given text unchanged. Useful to check that tool calls work.",
        input_schema=obj({"text": string("Text to echo back.")}, ["text"]),
        local=echo,
        annotations=_local_hints("Echo"),
    ),
    Tool(
        name="demo_current_time",
        description=(
            "Get the current date and time as ISO 8601, in the given IANA time zone "
            "(e.g. 'Europe/Paris'); UTC when none is given."
        ),
        input_schema=obj({"timezone": string("IANA time zone name, e.g. 'America/New_York'.")}),
        local=current_time,
        output_schema={
            "type": "object",
            "properties": {"timezone": {"type": "string"}, "iso": {"type": "string"}},
            "required": ["timezone", "iso"],
        },
        annotations={**_local_hints("Current time"), "idempotentHint": False},
    ),
    Tool(
        name="demo_add",
        description="Add two numbers and return their sum.",
        input_schema=obj({"a": number("First addend."), "b": number("Second addend.")}, ["a", "b"]),
        local=add,
        output_schema={
            "type": "object",
            "properties": {"sum": {"type": "number"}},
            "required": ["sum"],
        },
        annotations=_local_hints("Add numbers"),
    ),
)

CONNECTOR = Connector(
    slug="demo",
    name="Demo",
    description="Built-in tools that need no account: echo, current time, add.",
    auth_kind="none",
    api_base_url="",
    tools=TOOLS,
)
