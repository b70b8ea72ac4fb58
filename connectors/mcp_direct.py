"""``tools/call`` to an upstream MCP server as one JSON-RPC POST (``mcp_rpc``), when that is enough.

``mcp_upstream.call_tool`` asks ``eligible`` first; when it says no, the SDK session is used.
A call is plain when the server is known to speak the stateless 2026-07-28 wire (its remembered
era, ``mcp_common.eras``; the first call to a server goes through the SDK,
which probes and remembers it), nothing is relayed while it runs (no progress, no log
callback), and the tool's ``x-mcp-header`` annotations, if any, are valid (a 2026-07-28 client
drops a tool whose annotations are not; the SDK path keeps that case). What the SDK session did
for such a call is done here too: arguments annotated with ``x-mcp-header`` are mirrored into
``Mcp-Param-*`` request headers, with the SDK's own helpers (``mcp.shared.inbound``: same name
mapping, same value rendering and base64 sentinel), from the tool's catalogue definition -- the
pooled SDK sessions never list tools, so they never send these headers; and the structured
result of a tool with an output schema is checked against that schema (the schema of the
connection's stored catalogue, which is what vmcp lists to agents); a mismatch is an error
that names the place and the rule, never a value.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from mcp.shared.inbound import find_invalid_x_mcp_header, mcp_param_headers, x_mcp_header_map
from referencing import Registry
from referencing.exceptions import Unresolvable

from connectors import mcp_rpc
from connectors.mcp_common import eras
from vmcp_platform.egress.headers import is_transport_header
from vmcp_platform.errors import ProviderError

MAX_PLANS = 1024
# RFC 9110 field-name token: what the SDK requires of an ``x-mcp-header`` value, re-checked here
# because the name is built from stored catalogue data and goes on the wire.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A header value as the SDK's ``encode_header_value`` leaves it: printable ASCII, no CR/LF/NUL.
_SAFE_VALUE = re.compile(r"[\x20-\x7e]*")


class _Plan:
    """What a tool's schemas say about calling it plainly; computed once per schema value."""

    __slots__ = ("plain", "header_map", "validator", "schema_error")

    def __init__(self, definition: dict[str, Any]) -> None:
        input_schema = definition.get("inputSchema") or {}
        # An invalid annotation: the SDK client drops such a tool from a listing; not ours to guess.
        self.plain = find_invalid_x_mcp_header(input_schema) is None
        self.header_map = x_mcp_header_map(input_schema) if self.plain else {}
        self.validator: Any = None
        self.schema_error = ""
        output_schema = definition.get("outputSchema")
        if isinstance(output_schema, dict):
            cls = validator_for(output_schema)
            try:
                cls.check_schema(output_schema)
                self.validator = cls(output_schema, registry=Registry())
            except SchemaError as exc:
                self.schema_error = str(exc)


# id(definition) -> (definition, plan): the warm path's tool index hands the same definition
# object to every call of a catalogue version, so this lookup is one dict access; the entry
# holds its definition, so an id is never reused while the entry exists. Definitions built per
# call (the ORM path) miss it and find their plan by the schemas' value instead.
_plans: dict[int, tuple[dict[str, Any], _Plan]] = {}
_by_schemas: dict[bytes, _Plan] = {}


def _plan(definition: dict[str, Any]) -> _Plan:
    entry = _plans.get(id(definition))
    if entry is not None and entry[0] is definition:
        return entry[1]
    key = orjson.dumps(
        [definition.get("inputSchema"), definition.get("outputSchema")],
        option=orjson.OPT_SORT_KEYS,
    )
    plan = _by_schemas.get(key)
    if plan is None:
        if len(_by_schemas) >= MAX_PLANS:
            _by_schemas.clear()
        plan = _by_schemas[key] = _Plan(definition)
    if len(_plans) >= MAX_PLANS:
        _plans.clear()
    _plans[id(definition)] = (definition, plan)
    return plan


def is_modern(server_url: str) -> bool:
    known = eras.get(server_url)
    return known is not None and known[1] is not None and known[2] == mcp_rpc.MODERN_VERSION


def eligible(server_url: str, tool: dict[str, Any] | None) -> bool:
    """Whether a ``tools/call`` of ``tool`` (without progress or log relaying) can go plain."""
    return tool is not None and is_modern(server_url) and _plan(tool).plain


async def call_tool(
    *,
    server_url: str,
    headers: dict[str, str],
    name: str,
    arguments: dict[str, Any],
    tool: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """The upstream's raw ``tools/call`` result (``eligible`` said yes); ``ProviderError``."""
    plan = _plan(tool)
    if plan.header_map:
        headers = _with_param_headers(headers, plan.header_map, arguments)
    try:
        result = await mcp_rpc.call(
            server_url,
            "tools/call",
            {"name": name, "arguments": arguments},
            headers,
            timeout=timeout,
        )
    except ProviderError:
        # As after a failed SDK session: the next call probes the server afresh.
        eras.pop(server_url, None)
        raise
    if result.get("resultType", "complete") == "complete" and not result.get("isError"):
        _check_structured(plan, name, result)
    return result


def _with_param_headers(
    headers: dict[str, str], header_map: dict[tuple[str, ...], str], arguments: dict[str, Any]
) -> dict[str, str]:
    """``headers`` plus the ``Mcp-Param-*`` headers the SDK client would mirror from ``arguments``.

    A mirrored header replaces a connection header of the same name (any case): the server
    refuses a duplicated one, and the argument is what it compares against. Names and values
    are re-checked (a transport header or CR/LF never reaches the wire), though the SDK's
    helpers already only build tokens and printable ASCII.
    """
    mirrored = mcp_param_headers(header_map, arguments)
    for header, value in mirrored.items():
        if (
            not _TOKEN.fullmatch(header)
            or is_transport_header(header)
            or not _SAFE_VALUE.fullmatch(value)
        ):
            raise ProviderError("the tool's x-mcp-header annotation gives an unusable header")
    if not mirrored:
        return headers
    taken = {header.lower() for header in mirrored}
    return {k: v for k, v in headers.items() if k.lower() not in taken} | mirrored


def _check_structured(plan: _Plan, name: str, result: dict[str, Any]) -> None:
    """What the SDK's ``validate_tool_result`` checks. The message names the problem, never a
    value of the result (it reaches the agent and the audit row)."""
    if plan.schema_error:
        raise ProviderError(f"the upstream MCP server's output schema for {name} is invalid")
    if plan.validator is None:
        return
    if "structuredContent" not in result:
        raise ProviderError(
            f"the upstream MCP tool {name} has an output schema but returned no structured content"
        )
    try:
        error = best_match(plan.validator.iter_errors(result["structuredContent"]))
    except Unresolvable:
        raise ProviderError(
            f"the upstream MCP server's output schema for {name} has an unresolvable $ref"
        ) from None
    if error is not None:
        where = ("/".join(str(p) for p in error.absolute_path) or "(root)")[:200]
        raise ProviderError(
            f"the upstream MCP tool {name} returned structured content that does not match its "
            f"output schema (at {where}: {error.validator})"
        )
