"""Whether a URI is an expansion of an upstream's RFC 6570 resource template.

The template comes from the upstream (at sync) and the URI from the agent, so neither is
trusted. A backtracking regex over adjacent expressions (``{+a}{+b}{+c}``) takes polynomial
time in the URI's length, on the event loop; here the template is compiled to a small NFA and
simulated a character at a time over the set of live states, so a match costs at most
(URI length × template states), whatever either holds.

An expansion value may not step out of the template's family: it never holds a ``\\``, a
percent-encoded ``/``, ``.`` or ``\\`` (``%2F``, ``%2E``, ``%5C``, any case), or any part of a
``.``/``..`` path segment, so ``file:///docs/{name}`` is not ``file:///docs/..`` nor
``..%2Fetc%2Fpasswd``, and ``{+path}`` is not ``../..``. The template's own literal text is the
upstream's and is not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

MAX_URI = 2048
# A match costs up to (URI length x template states); real templates are a few dozen characters
# with a handful of expressions, so longer ones are not matched rather than made slow.
MAX_TEMPLATE = 512
MAX_EXPRESSIONS = 32

_EXPRESSION = re.compile(r"\{([+#./;?&]?)([A-Za-z0-9_.,%*:]+)\}")
_ENCODED_ESCAPES = ("%2f", "%2e", "%5c")

# Each operator's expansion as (prefix, excluded characters, shape), the same language as the
# conservative regexes this replaces:
#   "plus"  C+                 ("" and "+")
#   "opt"   (prefix C*)?       ("#", "?", and ";"/"&", whose (prefix C*)* is the same language
#                               since the prefix is itself in C)
#   "star"  (prefix C+)*       ("." and "/")
_OPERATORS: dict[str, tuple[str, str, str]] = {
    "": ("", "/?#", "plus"),
    "+": ("", "?#", "plus"),
    "#": ("#", "?", "opt"),
    ".": (".", "/?#.", "star"),
    "/": ("/", "/?#", "star"),
    ";": (";", "/?#", "opt"),
    "?": ("?", "#", "opt"),
    "&": ("&", "#", "opt"),
}


@dataclass(frozen=True)
class _State:
    # A consuming transition: (literal char or None, excluded chars for an expansion, target);
    # for an expansion (literal None) the character must also be allowed in a value.
    moves: tuple[tuple[str | None, str, int], ...]
    skips: tuple[int, ...]  # epsilon transitions


@dataclass(frozen=True)
class _Machine:
    states: tuple[_State, ...]  # the last index (len(states)) is the accepting state


def template_matches(template: str, uri: str) -> bool:
    """Whether ``uri`` is an expansion of the RFC 6570 ``template`` (levels 1–3, conservative).

    A simple ``{var}`` never spans a '/', '?' or '#', so a template cannot be stretched over
    a URI outside its family.
    """
    if not isinstance(uri, str) or len(uri) > MAX_URI:
        return False
    machine = _compile(template)
    return machine is not None and _run(machine, uri)


@lru_cache(maxsize=512)
def _compile(template: str) -> _Machine | None:
    if len(template) > MAX_TEMPLATE:
        return None
    states: list[_State] = []

    def literal(text: str) -> None:
        for char in text:
            states.append(_State(((char, "", len(states) + 1),), ()))

    last = 0
    expressions = 0
    for match in _EXPRESSION.finditer(template):
        literal(template[last : match.start()])
        expressions += 1
        _expansion(states, *_OPERATORS[match.group(1)])
        last = match.end()
    rest = template[last:]
    if "{" in rest or "}" in rest or expressions > MAX_EXPRESSIONS:
        return None  # not a template this matcher understands: matches nothing
    literal(rest)
    return _Machine(tuple(states))


def _expansion(states: list[_State], prefix: str, excluded: str, shape: str) -> None:
    entry = len(states)
    if shape == "plus":  # entry -C-> loop; loop -C-> loop | -> next
        states.append(_State(((None, excluded, entry + 1),), ()))
        states.append(_State(((None, excluded, entry + 1),), (entry + 2,)))
    elif shape == "opt":  # entry -> next | -prefix-> loop; loop -C-> loop | -> next
        states.append(_State(((prefix, "", entry + 1),), (entry + 2,)))
        states.append(_State(((None, excluded, entry + 1),), (entry + 2,)))
    else:  # star: entry -> next | -prefix-> first; first -C-> loop; loop -C-> loop | -> entry
        states.append(_State(((prefix, "", entry + 1),), (entry + 3,)))
        states.append(_State(((None, excluded, entry + 2),), ()))
        states.append(_State(((None, excluded, entry + 2),), (entry,)))


def _run(machine: _Machine, uri: str) -> bool:
    accept = len(machine.states)
    forbidden = _forbidden_in_values(uri)
    live = _closure(machine, {0})
    for index, char in enumerate(uri):
        step: set[int] = set()
        for state in live:
            if state == accept:
                continue
            for literal, excluded, target in machine.states[state].moves:
                if literal is None:
                    if char not in excluded and not forbidden[index]:
                        step.add(target)
                elif char == literal:
                    step.add(target)
        if not step:
            return False
        live = _closure(machine, step)
    return accept in live


def _closure(machine: _Machine, states: set[int]) -> set[int]:
    accept = len(machine.states)
    stack = list(states)
    while stack:
        state = stack.pop()
        if state == accept:
            continue
        for target in machine.states[state].skips:
            if target not in states:
                states.add(target)
                stack.append(target)
    return states


def _forbidden_in_values(uri: str) -> list[bool]:
    """Per character of ``uri``: whether no expansion value may hold it (see the module doc)."""
    forbidden = [char == "\\" for char in uri]
    lowered = uri.lower()
    for encoded in _ENCODED_ESCAPES:
        start = lowered.find(encoded)
        while start != -1:
            forbidden[start] = True  # the '%': a value would have to hold it to hold the escape
            start = lowered.find(encoded, start + 1)
    start = 0
    for segment in re.split(r"[/?#]", uri):
        if segment in (".", ".."):
            forbidden[start : start + len(segment)] = [True] * len(segment)
        start += len(segment) + 1
    return forbidden
