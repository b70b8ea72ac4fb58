"""A tool call's arguments → the exact HTTP request its operation describes.

Serialization follows the OpenAPI parameter styles: ``simple``/``label``/``matrix`` in the path
(each value percent-encoded, so a ``/`` or ``?`` in an id cannot change the route), ``form``
(exploded or not), ``spaceDelimited``, ``pipeDelimited`` and ``deepObject`` in the query,
``simple`` in headers and ``form`` in cookies. Booleans are ``true``/``false``, as JSON spells them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from vmcp_platform.errors import ValidationFailed

_TEMPLATE = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class BuiltRequest:
    method: str
    path: str  # templated and encoded, relative to the server URL
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pairs(value: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), scalar(v)) for k, v in value.items() if v is not None]


def _path_value(value: Any, style: str, explode: bool, name: str) -> str:
    enc = lambda s: quote(s, safe="")  # noqa: E731
    if isinstance(value, list):
        items = [enc(scalar(v)) for v in value]
        if style == "label":
            return "." + ("." if explode else ",").join(items)
        if style == "matrix":
            if explode:
                return "".join(f";{name}={v}" for v in items)
            return f";{name}=" + ",".join(items)
        return ",".join(items)
    if isinstance(value, dict):
        pairs = [(enc(k), enc(v)) for k, v in _pairs(value)]
        if explode:
            joined = [f"{k}={v}" for k, v in pairs]
        else:
            joined = [x for pair in pairs for x in pair]
        if style == "label":
            return "." + ("." if explode else ",").join(joined)
        if style == "matrix":
            return (";" + ";".join(joined)) if explode else f";{name}=" + ",".join(joined)
        return ",".join(joined)
    text = enc(scalar(value))
    if style == "label":
        return "." + text
    if style == "matrix":
        return f";{name}={text}"
    return text


def _query_value(name: str, value: Any, style: str, explode: bool) -> list[tuple[str, str]]:
    if isinstance(value, list):
        items = [scalar(v) for v in value]
        if style == "form" and explode:
            return [(name, v) for v in items]
        sep = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
        return [(name, sep.join(items))]
    if isinstance(value, dict):
        pairs = _pairs(value)
        if style == "deepObject":
            return [(f"{name}[{k}]", v) for k, v in pairs]
        if explode:
            return pairs
        return [(name, ",".join(x for pair in pairs for x in pair))]
    return [(name, scalar(value))]


def _simple(value: Any, explode: bool) -> str:
    if isinstance(value, list):
        return ",".join(scalar(v) for v in value)
    if isinstance(value, dict):
        pairs = _pairs(value)
        if explode:
            return ",".join(f"{k}={v}" for k, v in pairs)
        return ",".join(x for pair in pairs for x in pair)
    return scalar(value)


def _single_line(name: str, text: str) -> str:
    # Header values are visible ASCII on the wire; anything else would be mangled or refused.
    if not text.isascii() or not text.isprintable():
        raise ValidationFailed(
            f"{name} must be printable ASCII on one line (it is sent as a header).",
            details={"argument": name},
        )
    return text


def build_request(plan: dict[str, Any], arguments: dict[str, Any]) -> BuiltRequest:
    """The request for ``arguments`` (already validated against the tool's input schema)."""
    path_values: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for param in plan.get("params", []):
        if param["arg"] not in arguments or arguments[param["arg"]] is None:
            continue
        value = arguments[param["arg"]]
        name, style, explode = param["name"], param["style"], param["explode"]
        if param.get("json"):
            value = json.dumps(value, separators=(",", ":"))
        location = param["in"]
        if location == "path":
            path_values[name] = _path_value(value, style, explode, name)
            if path_values[name] in ("", ".", ".."):
                # An empty or dot segment would address another resource.
                raise ValidationFailed(
                    f"{param['arg']} must not be empty.", details={"argument": param["arg"]}
                )
        elif location == "query":
            query.extend(_query_value(name, value, style, explode))
        elif location == "header":
            headers[name] = _single_line(param["arg"], _simple(value, explode))
        else:
            text = _simple(value, False) if not isinstance(value, dict) or not explode else None
            if text is None:
                cookies.extend(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in _pairs(value))
            else:
                cookies.append(f"{name}={quote(text, safe=',')}")
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    path = _TEMPLATE.sub(lambda m: path_values.get(m.group(1), ""), plan["path"])
    content = None
    body = plan.get("body")
    if body:
        payload = _payload(body, arguments)
        if payload is not None:
            headers["Content-Type"] = body["media_type"]
            if body.get("form"):
                content = urlencode(
                    [(k, scalar(v)) for k, v in payload.items()]
                    if isinstance(payload, dict)
                    else [],
                ).encode()
            else:
                content = json.dumps(payload, ensure_ascii=False).encode()
    return BuiltRequest(
        method=plan["method"], path=path, query=query, headers=headers, content=content
    )


def _payload(body: dict[str, Any], arguments: dict[str, Any]) -> Any:
    if body["mode"] == "whole":
        return arguments.get(body["arg"])
    fields = {f: arguments[f] for f in body["fields"] if f in arguments}
    # A required body is sent even when every field was left out (as ``{}``).
    return fields if fields or body.get("required") else None
