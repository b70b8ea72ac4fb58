"""Tool arguments against the tool's input schema, with compiled validators cached.

Error messages name the field and the rule it breaks but never echo the value: arguments may
carry secrets (an API token pasted into a "body" field), and these messages reach agents, logs
and the audit trail.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from vmcp_platform.errors import ValidationFailed

logger = logging.getLogger(__name__)

MAX_CACHED_VALIDATORS = 2048
MAX_REPORTED_ERRORS = 5

_cache: dict[tuple[str, str], Validator | None] = {}
_cache_lock = threading.Lock()


def _compiled(cache_key: str, schema: dict[str, Any]) -> Validator | None:
    """The validator for ``schema`` (None when the schema itself is invalid), cached by hash."""
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()
    key = (cache_key, digest)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    cls = validator_for(schema, default=Draft202012Validator)
    validator: Validator | None
    try:
        cls.check_schema(schema)
        # An empty registry: a "$ref" the schema does not contain itself is unresolvable, never
        # fetched. jsonschema's default retrieval would urlopen() any URL an upstream server
        # puts in its schema (file://, the metadata service, a slow host), outside the egress
        # guard, and echo what it read into the error the agent sees.
        validator = cls(schema, registry=Registry())
    except SchemaError:
        # A broken schema published by an upstream server: don't make the tool uncallable;
        # the upstream validates its own input.
        logger.warning("tool %s has an invalid input schema; arguments not validated", cache_key)
        validator = None
    with _cache_lock:
        if len(_cache) >= MAX_CACHED_VALIDATORS:
            _cache.clear()
        _cache[key] = validator
    return validator


def compiled_validator(cache_key: str, schema: dict[str, Any] | None) -> Validator | None:
    """The validator to pass to ``arguments_validate`` (None: nothing to check), compiled once by
    a caller that keeps it with the tool definition (the warm path's tool index)."""
    return _compiled(cache_key, schema) if schema else None


UNSET: Any = object()  # "no precompiled validator given"


def arguments_validate(
    *,
    cache_key: str,
    tool_name: str,
    schema: dict[str, Any] | None,
    arguments: Any,
    validator: Any = UNSET,
) -> None:
    """Raise ``ValidationFailed`` naming the field path and the problem (never the value).

    ``validator``: from ``compiled_validator`` for this very schema (skips hashing the schema).
    """
    if not isinstance(arguments, dict):
        raise ValidationFailed(
            f"Invalid arguments for tool '{tool_name}': arguments must be a JSON object.",
            details={"errors": [{"field": "", "problem": "must be an object"}]},
        )
    if not schema:
        return
    if validator is UNSET:
        validator = _compiled(cache_key, schema)
    if validator is None:
        return
    # Shallowest first (the most useful to fix first); str() because paths mix keys and indexes.
    try:
        errors = sorted(
            validator.iter_errors(arguments),
            key=lambda e: (len(e.path), [str(part) for part in e.path]),
        )
    except Unresolvable:
        # A schema pointing outside itself: treated like a broken schema (the upstream
        # validates its own input), and nothing is fetched.
        logger.warning("tool %s has an unresolvable $ref; arguments not validated", tool_name)
        return
    if not errors:
        return
    described = [_describe(error) for error in errors[:MAX_REPORTED_ERRORS]]
    first = described[0]
    where = f"'{first['field']}'" if first["field"] else "the arguments object"
    raise ValidationFailed(
        f"Invalid arguments for tool '{tool_name}': {where} {first['problem']}.",
        details={"errors": described},
    )


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _short(value: Any) -> str:
    # Schema values (enum members, limits) come from the tool definition, not the caller.
    text = json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _describe(error: ValidationError) -> dict[str, str]:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    rule = error.validator_value
    instance = error.instance
    if keyword == "required":
        missing = [name for name in rule if isinstance(instance, dict) and name not in instance]
        name = missing[0] if missing else "?"
        return {"field": _path([*path, name]), "problem": "is required", "keyword": keyword}
    if keyword == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = (
            sorted(str(k) for k in instance if k not in allowed)[:3]
            if isinstance(instance, dict)
            else []
        )
        names = ", ".join(f"'{name[:40]}'" for name in extra)
        return {
            "field": _path(path),
            "problem": f"has unexpected properties ({names})"
            if names
            else "has unexpected properties",
            "keyword": keyword,
        }
    problems = {
        "type": lambda: f"must be of type {_short(rule)}",
        "enum": lambda: f"must be one of {_short(rule)}",
        "const": lambda: f"must equal {_short(rule)}",
        "minLength": lambda: f"must be at least {rule} characters long",
        "maxLength": lambda: f"must be at most {rule} characters long",
        "minimum": lambda: f"must be >= {rule}",
        "maximum": lambda: f"must be <= {rule}",
        "exclusiveMinimum": lambda: f"must be > {rule}",
        "exclusiveMaximum": lambda: f"must be < {rule}",
        "minItems": lambda: f"must have at least {rule} items",
        "maxItems": lambda: f"must have at most {rule} items",
        "uniqueItems": lambda: "must not contain duplicate items",
        "pattern": lambda: f"must match the pattern {_short(rule)}",
        "format": lambda: f"must be a valid {rule}",
        "multipleOf": lambda: f"must be a multiple of {rule}",
        "minProperties": lambda: f"must have at least {rule} properties",
        "maxProperties": lambda: f"must have at most {rule} properties",
    }
    make = problems.get(keyword)
    problem = make() if make else f"does not satisfy the schema rule '{keyword}'"
    return {"field": _path(path), "problem": problem, "keyword": keyword}
