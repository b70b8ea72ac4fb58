"""Small builders shared by the connector modules: JSON Schema fragments, tool hints and
the common "arguments → HttpCall" shape, so each provider module stays a table of data.
"""

from __future__ import annotations

import string as _string
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from connectors.base import HttpCall, JsonSchema

RequestBuilder = Callable[[dict[str, Any]], HttpCall]


def obj(
    properties: Mapping[str, JsonSchema],
    required: Sequence[str] = (),
    *,
    description: str | None = None,
) -> JsonSchema:
    """A closed object schema: agents get a clear error for a misspelt argument."""
    missing = set(required) - set(properties)
    if missing:
        raise ValueError(f"required names not in properties: {sorted(missing)}")
    schema: JsonSchema = {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def string(description: str, **extra: Any) -> JsonSchema:
    return {"type": "string", "description": description, **extra}


def integer(
    description: str, *, minimum: int | None = None, maximum: int | None = None
) -> JsonSchema:
    schema: JsonSchema = {"type": "integer", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def number(description: str) -> JsonSchema:
    return {"type": "number", "description": description}


def boolean(description: str) -> JsonSchema:
    return {"type": "boolean", "description": description}


def enum(values: Iterable[str], description: str) -> JsonSchema:
    return {"type": "string", "enum": list(values), "description": description}


def array(items: JsonSchema, description: str, *, min_items: int | None = None) -> JsonSchema:
    schema: JsonSchema = {"type": "array", "items": items, "description": description}
    if min_items is not None:
        schema["minItems"] = min_items
    return schema


def strings(description: str, *, min_items: int | None = None) -> JsonSchema:
    return array({"type": "string"}, description, min_items=min_items)


def read_only(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "readOnlyHint": True,
        "destructiveHint": False,
        "idempotentHint": True,
        "openWorldHint": True,
    }


def writes(title: str, *, destructive: bool = False, idempotent: bool = False) -> dict[str, Any]:
    return {
        "title": title,
        "readOnlyHint": False,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
        "openWorldHint": True,
    }


def quote_segment(value: Any) -> str:
    # safe="" so an id containing "/" or "#" (calendar ids do) cannot change the route.
    return quote(str(value), safe="")


def pick(args: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {name: args[name] for name in names if args.get(name) is not None}


def rest(
    method: str,
    template: str,
    *,
    query: Sequence[str] = (),
    body: Sequence[str] = (),
    build_body: Callable[[dict[str, Any]], Any] | None = None,
    slash_params: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> RequestBuilder:
    """Build a request from a path template such as ``/repos/{owner}/{repo}/issues``.

    Path parameters are quoted as one segment each, except those in ``slash_params`` (a
    file path in a repository), whose ``/`` separators are kept. ``defaults`` fill in
    arguments the agent left out (the schema should document them as ``default``).
    """
    path_params = [name for _, name, _, _ in _string.Formatter().parse(template) if name]

    def build(args: dict[str, Any]) -> HttpCall:
        if defaults:
            args = {**defaults, **{k: v for k, v in args.items() if v is not None}}
        values = {
            name: quote(str(args[name]), safe="/")
            if name in slash_params
            else quote_segment(args[name])
            for name in path_params
        }
        if build_body is not None:
            payload = build_body(args)
        elif body:
            payload = pick(args, body)
        else:
            payload = None
        return HttpCall(
            method=method,
            path=template.format(**values),
            params=pick(args, query) or None,
            json=payload,
        )

    return build
