"""An OpenAPI document → MCP tool definitions, each with the plan to build its request.

One tool per operation. Operations the connector cannot call faithfully (a required body that
is not JSON or a form, e.g. a file upload; a parameter style that does not fit its location;
a schema too large once expanded) are skipped, each with a reason kept for the admin.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from vmcp_platform.egress.headers import TRANSPORT_HEADERS

from . import PLAN_KEY
from .loader import HTTP_METHODS
from .schemas import Converter, Resolver, SchemaTooLarge

MAX_TOOL_NAME = 64
MAX_ARG_NAME = 64
MAX_DESCRIPTION = 2000
DEFAULT_MAX_INPUT_NODES = 2000
DEFAULT_MAX_OUTPUT_NODES = 1000
# Accept, Content-Type and Authorization per the spec; the transport's own headers and Cookie
# (cookies are `in: cookie` parameters) so an agent's argument can never set them.
IGNORED_HEADERS = (
    frozenset({"accept", "content-type", "authorization", "cookie"}) | TRANSPORT_HEADERS
)
LOCATIONS = ("path", "query", "header", "cookie")
STYLES = {
    "path": {"simple", "label", "matrix"},
    "query": {"form", "spaceDelimited", "pipeDelimited", "deepObject"},
    "header": {"simple"},
    "cookie": {"form"},
}
DEFAULT_STYLE = {"path": "simple", "query": "form", "header": "simple", "cookie": "form"}
FORM_MEDIA = "application/x-www-form-urlencoded"


class Skip(Exception):
    """This operation is left out; the message says why."""


@dataclass
class Compiled:
    tools: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def is_json_media(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def arg_name(name: str) -> str:
    # The property-name pattern MCP clients (and model APIs) accept.
    return (re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_")[:MAX_ARG_NAME]


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


class _Compiler:
    def __init__(self, document: dict[str, Any], version: str, prefix: str) -> None:
        self.document = document
        self.resolver = Resolver(document)
        self.inputs = Converter(self.resolver, version, "input")
        self.outputs = Converter(self.resolver, version, "output")
        self.prefix = snake(prefix)
        self.names: set[str] = set()
        self.max_in = _limit("VMCP_OPENAPI_MAX_INPUT_SCHEMA_NODES", DEFAULT_MAX_INPUT_NODES)
        self.max_out = _limit("VMCP_OPENAPI_MAX_OUTPUT_SCHEMA_NODES", DEFAULT_MAX_OUTPUT_NODES)

    def run(self) -> Compiled:
        out = Compiled()
        for path, item in (self.document.get("paths") or {}).items():
            item, _ = self.resolver.deref(item)
            if not isinstance(item, dict):
                continue
            for method in HTTP_METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                label = f"{method.upper()} {path}"
                try:
                    out.tools.append(self.tool(path, method, item, operation))
                except Skip as exc:
                    out.skipped.append(
                        {
                            "operation": label,
                            "operation_id": str(operation.get("operationId") or "")[:200],
                            "reason": str(exc),
                        }
                    )
        return out

    def unique_name(self, method: str, path: str, operation_id: Any) -> str:
        base = snake(operation_id) if isinstance(operation_id, str) else ""
        if not base:
            base = snake(f"{method} {path}") or method
        name = f"{self.prefix}_{base}" if self.prefix else base
        name = name[:MAX_TOOL_NAME].rstrip("_")
        candidate, n = name, 2
        while candidate in self.names:
            suffix = f"_{n}"
            candidate = name[: MAX_TOOL_NAME - len(suffix)] + suffix
            n += 1
        self.names.add(candidate)
        return candidate

    def tool(
        self, path: str, method: str, item: dict[str, Any], operation: dict[str, Any]
    ) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        params = self.parameters(item, operation)
        plan_params = []
        try:
            for param in params:
                arg = self.free_arg(param["name"], param["in"], properties)
                schema, plan = self.parameter(param, arg)
                properties[arg] = schema
                plan_params.append(plan)
                if param.get("required") or param["in"] == "path":
                    required.append(arg)
            body_plan = self.body(operation, properties, required)
        except SchemaTooLarge:
            raise Skip("its input schema is too large once $refs are expanded") from None
        plan: dict[str, Any] = {"method": method.upper(), "path": path, "params": plan_params}
        if body_plan:
            plan["body"] = body_plan
        definition: dict[str, Any] = {
            "name": self.unique_name(method, path, operation.get("operationId")),
            "description": _description(method, path, operation),
            "inputSchema": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        }
        output = self.output(operation)
        if output is not None:
            definition["outputSchema"], plan["wrap_result"] = output
        definition["annotations"] = _annotations(method, operation)
        definition[PLAN_KEY] = plan
        return definition

    def parameters(self, item: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*(item.get("parameters") or []), *(operation.get("parameters") or [])]:
            param, _ = self.resolver.deref(raw)
            if not isinstance(param, dict) or param.get("in") not in LOCATIONS:
                continue
            if param["in"] == "header" and str(param.get("name", "")).lower() in IGNORED_HEADERS:
                continue
            merged[(param["in"], str(param.get("name")))] = param  # the operation's wins
        order = {loc: i for i, loc in enumerate(LOCATIONS)}
        return sorted(merged.values(), key=lambda p: order[p["in"]])

    def free_arg(self, name: str, location: str, taken: dict[str, Any]) -> str:
        arg = arg_name(name)
        if arg in taken:
            arg = arg_name(f"{location}_{name}")
        n = 2
        while arg in taken:
            arg, n = arg_name(f"{location}_{name}_{n}"), n + 1
        return arg

    def parameter(self, param: dict[str, Any], arg: str) -> tuple[Any, dict[str, Any]]:
        location = param["in"]
        style = param.get("style") or DEFAULT_STYLE[location]
        if style not in STYLES[location]:
            raise Skip(f"parameter {param['name']!r} uses style {style!r}, invalid in {location}")
        plan = {
            "arg": arg,
            "name": param["name"],
            "in": location,
            "style": style,
            "explode": bool(param.get("explode", style == "form")),
        }
        raw = param.get("schema")
        if raw is None and isinstance(param.get("content"), dict) and param["content"]:
            media, content = next(iter(param["content"].items()))
            content, _ = self.resolver.deref(content)
            raw = (content or {}).get("schema") if isinstance(content, dict) else None
            plan["json"] = is_json_media(media)
        schema = self.inputs.convert(raw if raw is not None else {}, budget=self.max_in)
        if isinstance(param.get("description"), str):
            schema = {**schema, "description": param["description"][:1000]}
        if isinstance(schema, dict) and schema.get("type") == "string":
            # So that what the schema accepts is a request the document accepts: an empty
            # path segment would reach another route, an empty query value counts as absent
            # (unless allowEmptyValue), and headers are visible ASCII.
            empty_ok = location == "query" and param.get("allowEmptyValue")
            if location in ("path", "query") and not empty_ok and not schema.get("minLength"):
                schema = {**schema, "minLength": 1}
            if location == "header" and "pattern" not in schema:
                schema = {**schema, "pattern": "^[\\x20-\\x7e]*$"}
        required = param.get("required") or location == "path"
        if required and isinstance(schema, dict) and schema.get("type") == "array":
            # An empty exploded array serializes to nothing: the parameter would be missing.
            schema = {**schema, "minItems": max(1, schema.get("minItems", 0))}
        return schema, plan

    def body(
        self, operation: dict[str, Any], properties: dict[str, Any], required: list[str]
    ) -> dict[str, Any] | None:
        if "requestBody" not in operation:
            return None
        body, _ = self.resolver.deref(operation["requestBody"])
        content = body.get("content") or {} if isinstance(body, dict) else {}
        media = next((m for m in content if is_json_media(m)), None)
        media = media or (FORM_MEDIA if FORM_MEDIA in content else None)
        body_required = bool(body.get("required")) if isinstance(body, dict) else False
        if media is None:
            if not content:
                return None
            # A file upload or another non-JSON body: a tool without it could not do the job.
            kinds = ", ".join(sorted(content))
            raise Skip(f"its request body is {kinds[:200]}; only JSON and forms are supported")
        entry, _ = self.resolver.deref(content[media])
        raw = entry.get("schema", {}) if isinstance(entry, dict) else {}
        schema = self.inputs.convert(raw, budget=self.max_in)
        plan: dict[str, Any] = {
            "media_type": media,
            "form": media == FORM_MEDIA,
            "required": body_required,
        }
        props = schema.get("properties") if isinstance(schema, dict) else None
        flat = (
            isinstance(props, dict)
            and schema.get("type") in ("object", None)
            and not set(schema) & {"allOf", "anyOf", "oneOf", "not", "if"}
            and not isinstance(schema.get("additionalProperties"), dict)
            and not set(map(arg_name, props)) & set(properties)
            and all(arg_name(p) == p for p in props)
        )
        if flat:
            # The body's fields become arguments beside the parameters, as the built-in tools do.
            assert isinstance(props, dict)
            properties.update(props)
            if body_required:
                required.extend(n for n in schema.get("required", []) if n in props)
            plan.update({"mode": "flat", "fields": list(props)})
        else:
            arg = self.free_arg("body", "body", properties)
            properties[arg] = schema
            if body_required:
                required.append(arg)
            plan.update({"mode": "whole", "arg": arg})
        return plan

    def output(self, operation: dict[str, Any]) -> tuple[dict[str, Any], bool] | None:
        responses = operation.get("responses") or {}
        codes = sorted(str(c) for c in responses if str(c).startswith("2"))
        for code in codes:
            response, _ = self.resolver.deref(responses[code])
            content = (response or {}).get("content") or {} if isinstance(response, dict) else {}
            media = next((m for m in content if is_json_media(m)), None)
            if media is None:
                continue
            entry, _ = self.resolver.deref(content[media])
            if not isinstance(entry, dict) or "schema" not in entry:
                return None
            try:
                schema = self.outputs.convert(entry["schema"], budget=self.max_out)
            except SchemaTooLarge:
                return None  # still callable; its result is returned as text
            if isinstance(schema, dict) and schema.get("type") == "object":
                return schema, False
            # MCP structured results are objects: anything else is wrapped as {"result": …}.
            return {
                "type": "object",
                "properties": {"result": schema},
                "required": ["result"],
            }, True
        return None


def _description(method: str, path: str, operation: dict[str, Any]) -> str:
    parts = [str(operation[k]).strip() for k in ("summary", "description") if operation.get(k)]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = "\n\n".join(parts) or f"{method.upper()} {path}"
    if operation.get("deprecated"):
        text = "Deprecated. " + text
    tail = f"\n\n({method.upper()} {path})"
    return text[: MAX_DESCRIPTION - len(tail)] + tail


def _annotations(method: str, operation: dict[str, Any]) -> dict[str, Any]:
    reads = method in ("get", "head", "options")
    title = operation.get("summary") or operation.get("operationId") or method.upper()
    return {
        "title": str(title)[:200],
        "readOnlyHint": reads,
        "destructiveHint": method == "delete",
        "idempotentHint": reads or method in ("put", "delete"),
        "openWorldHint": True,
    }


def compile_document(document: dict[str, Any], *, version: str, prefix: str) -> Compiled:
    """Tools for every operation of a validated document, names prefixed with ``prefix``."""
    return _Compiler(document, version, prefix).run()


def tool_size(definition: dict[str, Any]) -> int:
    return len(json.dumps(definition, separators=(",", ":")))
