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
