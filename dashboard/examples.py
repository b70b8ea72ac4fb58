"""Example arguments for a tool, made from its input schema, for the snippets a person pastes.

Only required properties are filled (what a first call needs); each value comes from the
schema's own ``examples``, ``default`` or ``enum`` when it has one, else a placeholder of the
right type that the schema's bounds accept.
"""

from __future__ import annotations

import json
from typing import Any

STRING_FORMATS = {
    "email": "user@example.com",
    "date": "2026-01-31",
    "date-time": "2026-01-31T09:00:00Z",
    "uri": "https://example.com/",
    "url": "https://example.com/",
}
MAX_DEPTH = 4


def example_arguments(schema: dict[str, Any] | None) -> dict[str, Any]:
    """``{name: example}`` for each required property of an object schema."""
    value = _example(schema or {}, name="", depth=0, required_only=True)
    return value if isinstance(value, dict) else {}


def _example(schema: Any, *, name: str, depth: int, required_only: bool = False) -> Any:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("examples", "default", "enum", "const"):
        if key in schema:
            given = schema[key]
            if key in ("examples", "enum"):
                if isinstance(given, list) and given:
                    return given[0]
                continue
            return given
    for combined in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combined)
        if isinstance(options, list):
            usable = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            if usable:
                return _example(usable[0], name=name, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties") or {}
        required = [r for r in schema.get("required") or [] if r in properties]
        names = required if required_only else required or list(properties)[:1]
        return {prop: _example(properties[prop], name=prop, depth=depth + 1) for prop in names}
    if kind == "array":
        item = _example(schema.get("items") or {"type": "string"}, name=name, depth=depth + 1)
        return [item] * max(1, int(schema.get("minItems") or 1))
    if kind == "integer":
        return _number(schema, 1)
    if kind == "number":
        return _number(schema, 1.0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, name)


def _number(schema: dict[str, Any], fallback: float) -> Any:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = fallback
    if isinstance(low, int | float) and value < low:
        value = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(high, int | float) and value > high:
        value = high
    return type(fallback)(value)


def _string(schema: dict[str, Any], name: str) -> str:
    formatted = STRING_FORMATS.get(str(schema.get("format", "")))
    if formatted:
        return formatted
    lowered = name.lower()
    if "email" in lowered or lowered in ("to", "from", "cc", "bcc"):
        return "user@example.com"
    text = name or "text"
    minimum = schema.get("minLength")
    if isinstance(minimum, int) and len(text) < minimum:
        text = text.ljust(minimum, "x")
    return text


def python_literal(value: Any, *, indent: int = 0) -> str:
    """A value as Python source: JSON's look (double quotes) with True/False/None."""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value is None:
        return "None"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ", ".join(f"{json.dumps(k)}: {python_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    return json.dumps(value)
