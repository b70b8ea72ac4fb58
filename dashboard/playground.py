"""The playground's form for one tool, generated from the tool's JSON input schema.

Each top-level property becomes a field of the matching kind (text, number, a choice for an
``enum``, a checkbox for a boolean, one value per line for a list of scalars, JSON for anything
nested); the schema's ``required`` list makes fields required. ``arguments()`` turns the
submitted form back into the call's arguments, leaving out optional fields left empty. The
gateway validates the arguments against the schema again when the tool runs, as for an agent.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

PREFIX = "arg_"
SCALARS = {"string", "integer", "number", "boolean"}


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None and "enum" in schema:
        return "string"
    return kind if isinstance(kind, str) else "json"


def _field(schema: dict[str, Any], *, required: bool, name: str) -> forms.Field:
    label = schema.get("title") or name
    help_text = str(schema.get("description") or "")[:300]
    common: dict[str, Any] = {"required": required, "label": label, "help_text": help_text}
    kind = _kind(schema)
    if isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"]):
        choices = [(v, v) for v in schema["enum"]]
        return forms.ChoiceField(
            choices=[("", "—")] + choices if not required else choices, **common
        )
    if kind == "integer":
        return forms.IntegerField(
            min_value=schema.get("minimum"), max_value=schema.get("maximum"), **common
        )
    if kind == "number":
        return forms.FloatField(**common)
    if kind == "boolean":
        return forms.BooleanField(**{**common, "required": False})
    if kind == "array" and _kind(schema.get("items") or {"type": "string"}) in SCALARS - {
        "boolean"
    }:
        return forms.CharField(
            widget=forms.Textarea(attrs={"rows": 2, "data-list": "1"}),
            **{**common, "help_text": (help_text + " One value per line.").strip()},
        )
    if kind in ("object", "array", "json"):
        return forms.JSONField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    return forms.CharField(**common)


class ToolArgumentsForm(forms.Form):
    def __init__(self, schema: dict[str, Any] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema or {}
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        for name, prop in properties.items():
            if isinstance(prop, dict):
                self.fields[PREFIX + name] = _field(prop, required=name in required, name=name)

    def arguments(self) -> dict[str, Any]:
        """The call's arguments from ``cleaned_data`` (call after ``is_valid()``)."""
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        out: dict[str, Any] = {}
        for key, value in self.cleaned_data.items():
            name = key.removeprefix(PREFIX)
            prop = properties.get(name) or {}
            if _kind(prop) == "boolean":
                if value or name in required:
                    out[name] = bool(value)
                continue
            if value in (None, "") or (value == [] and name not in required):
                continue
            if _kind(prop) == "array" and isinstance(value, str):
                items = [line.strip() for line in value.splitlines() if line.strip()]
                out[name] = [_scalar(item, prop.get("items") or {}) for item in items]
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # "2", typed as 2, not 2.0: the same JSON number, as typed
            out[name] = value
        return out


def _scalar(text: str, schema: dict[str, Any]) -> Any:
    kind = _kind(schema)
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text  # the gateway's schema check says what is wrong, as it would to an agent
    return text


def result_text(content: list[dict[str, Any]]) -> str:
    """A tool result's content as a person reads it: text blocks as they are, others as JSON."""
    parts = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        else:
            parts.append(json.dumps(block, indent=2, default=str))
    return "\n".join(parts)
