"""OpenAPI schema objects → plain JSON Schema (2020-12) for MCP tool definitions.

Every local ``$ref`` is inlined (agents and MCP clients cannot resolve ``#/components/…``),
with ``referencing`` doing the JSON-pointer lookup. Two kinds of cycle are told apart:

- a ``$ref`` chain that never reaches a schema (``A → B → A``) is malformed: refused with a
  clear error;
- a recursive data structure (a tree whose ``children`` are trees) is legitimate and common
  (GitHub's description has some): the recursion is cut where a schema reappears inside itself
  (or past ``MAX_DEPTH``), and the cut accepts any value. Refusing would reject real APIs; the
  provider still validates what it receives.

Expansion is bounded in nodes (``SchemaTooLarge``), so ``$ref`` fan-out cannot blow up.
Expansions that made no cut are memoised: a 1,200-operation document compiles in seconds.
"""

from __future__ import annotations

from typing import Any, Literal

from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from .loader import InvalidDocument

Direction = Literal["input", "output"]
MAX_DEPTH = 32
MAX_DESCRIPTION_CHARS = 1000
DOC_URI = "urn:vmcp:openapi-document"
# Keywords whose value is one schema / a list of schemas / a map of name → schema.
_ONE = ("items", "not", "contains", "propertyNames", "if", "then", "else", "unevaluatedItems")
_ONE_OR_BOOL = ("additionalProperties", "unevaluatedProperties")
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "dependentSchemas")
# Plain JSON Schema keywords kept as they are.
_KEEP = frozenset(
    {
        "type", "enum", "const", "format", "default", "title", "multipleOf", "maximum",
        "minimum", "exclusiveMaximum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
        "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required",
        "deprecated", "contentEncoding", "contentMediaType", "maxContains", "minContains",
        "dependentRequired",
    }
)  # fmt: skip


class SchemaTooLarge(Exception):
    """The expanded schema went past its node budget."""


class Resolver:
    """Local ``$ref`` lookup in one document; external references are refused (they would be
    fetched from anywhere, and a document is imported once, self-contained)."""

    def __init__(self, document: dict[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._resolver = Registry().with_resource(DOC_URI, resource).resolver(base_uri=DOC_URI)

    def lookup(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise InvalidDocument(
                f"Only local $ref values ('#/…') are supported, not {str(ref)[:200]!r}.",
                details={"ref": str(ref)[:200]},
            )
        try:
            return self._resolver.lookup(DOC_URI + ref).contents
        except Unresolvable:
            raise InvalidDocument(
                f"$ref {ref[:200]!r} points at nothing in the document.", details={"ref": ref[:200]}
            ) from None

    def deref(self, node: Any) -> tuple[Any, str | None]:
        """Follow a chain of bare ``$ref`` objects to what it names; refuse a cyclic chain.

        Returns the target and the last reference followed (None when ``node`` was no ref).
        """
        seen: list[str] = []
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                chain = " → ".join([*seen, ref])
                raise InvalidDocument(
                    f"Cyclic $ref chain that never reaches a definition: {chain[:300]}.",
                    details={"refs": seen[:10]},
                )
            seen.append(ref)
            node = self.lookup(ref)
        return node, (seen[-1] if seen else None)


class Converter:
    """Converts schemas of one document, in one direction, within a node budget per call."""

    def __init__(self, resolver: Resolver, version: str, direction: Direction) -> None:
        self.resolver = resolver
        self.version = version
        self.direction = direction
        self._memo: dict[str, tuple[Any, int]] = {}
        self._budget = 0

    def convert(self, schema: Any, *, budget: int) -> Any:
        self._budget = budget
        result, _ = self._convert(schema, ())
        return result

    def _spend(self, nodes: int) -> None:
        self._budget -= nodes
        if self._budget < 0:
            raise SchemaTooLarge

    def _convert(self, node: Any, stack: tuple[str, ...]) -> tuple[Any, bool]:
        """The converted schema and whether a recursion cut happened inside it."""
        if isinstance(node, bool):
            return node, False
        if not isinstance(node, dict):
            return {}, False
        if "$ref" in node:
            return self._convert_ref(node, stack)
        self._spend(1)
        out: dict[str, Any] = {}
        cut = False
        for key, value in node.items():
            if key in _KEEP:
                out[key] = value
            elif key == "description" and isinstance(value, str):
                out[key] = value[:MAX_DESCRIPTION_CHARS]
            elif key in _ONE or (key in _ONE_OR_BOOL and not isinstance(value, bool)):
                out[key], c = self._convert(value, stack)
                cut |= c
            elif key in _ONE_OR_BOOL:
                out[key] = value
            elif key in _MANY and isinstance(value, list):
                out[key] = []
                for item in value:
                    converted, c = self._convert(item, stack)
                    out[key].append(converted)
                    cut |= c
            elif key in _MAP and isinstance(value, dict):
                out[key] = {}
                for name, item in value.items():
                    if key == "properties" and self._hidden(item):
                        continue
                    out[key][name], c = self._convert(item, stack)
                    cut |= c
        if "properties" in out and isinstance(out.get("required"), list):
            out["required"] = [n for n in out["required"] if n in out["properties"]]
        if self.version == "3.0":
            _fix_30(node, out)
        _format_bounds(out)
        return out, cut

    def _hidden(self, prop: Any) -> bool:
        """readOnly properties are not sent; writeOnly ones are not returned."""
        target, _ = self.resolver.deref(prop)
        if not isinstance(target, dict):
            return False
        flag = "readOnly" if self.direction == "input" else "writeOnly"
        return bool(target.get(flag))

    def _convert_ref(self, node: dict[str, Any], stack: tuple[str, ...]) -> tuple[Any, bool]:
        target, ref = self.resolver.deref({"$ref": node["$ref"]})
        assert ref is not None
        if ref in stack or len(stack) >= MAX_DEPTH:
            self._spend(1)
            name = ref.rsplit("/", 1)[-1]
            return {"description": f"{name} (recursive; not expanded)"}, True
        memo = self._memo.get(ref)
        if memo is not None:
            self._spend(memo[1])
            result: Any = memo[0]
            cut = False
        else:
            before = self._budget
            result, cut = self._convert(target, (*stack, ref))
            if not cut:
                self._memo[ref] = (result, before - self._budget)
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if siblings and self.version == "3.1":
            # 3.1 allows keywords beside $ref; they apply together.
            extra, c = self._convert(siblings, stack)
            return {"allOf": [result, extra]}, cut or c
        if isinstance(siblings.get("description"), str) and isinstance(result, dict):
            return {**result, "description": siblings["description"][:MAX_DESCRIPTION_CHARS]}, cut
        return result, cut


def _fix_30(node: dict[str, Any], out: dict[str, Any]) -> None:
    """3.0's dialect: ``nullable``, boolean exclusive bounds, single ``example``."""
    for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if isinstance(out.get(exclusive), bool):
            if out[exclusive] and bound in out:
                out[exclusive] = out.pop(bound)
            else:
                out.pop(exclusive)
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif kind is None:
            inner = dict(out)
            out.clear()
            out["anyOf"] = [inner, {"type": "null"}]


_INT_RANGES = {"int32": 2**31, "int64": 2**63}


def _format_bounds(out: dict[str, Any]) -> None:
    """int32/int64 are range checks in OpenAPI; spelled out, a JSON Schema validator sees them."""
    size = _INT_RANGES.get(out.get("format"))  # type: ignore[arg-type]
    kind = out.get("type")
    if size is None or not (kind == "integer" or (isinstance(kind, list) and "integer" in kind)):
        return
    out.setdefault("minimum", -size)
    out.setdefault("maximum", size - 1)


def node_count(schema: Any) -> int:
    """Dict nodes in a converted schema (shared, memoised sub-schemas count each time)."""
    if isinstance(schema, dict):
        return 1 + sum(node_count(v) for v in schema.values())
    if isinstance(schema, list):
        return sum(node_count(v) for v in schema)
    return 0
