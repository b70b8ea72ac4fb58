"""The small vocabulary every connection check uses: the field error and the header-name rule.

Shared by ``validation`` and the OpenAPI import (``openapi``), which ``validation`` calls, so
neither has to import the other's caller.
"""

from __future__ import annotations

import re
from typing import Any

from vmcp_platform.errors import ValidationFailed

HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def invalid(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, details=details)


def validate_scopes(scopes: Any) -> list[str]:
    if not isinstance(scopes, list) or len(scopes) > 100:
        raise invalid("scopes must be a list of at most 100 strings.", field="scopes")
    for scope in scopes:
        if not isinstance(scope, str) or not scope or len(scope) > 300:
            raise invalid("Each scope must be a non-empty string.", field="scopes")
        if any(ch.isspace() for ch in scope):
            raise invalid(f"A scope must not contain whitespace: {scope!r}.", field="scopes")
    return list(dict.fromkeys(scopes))
