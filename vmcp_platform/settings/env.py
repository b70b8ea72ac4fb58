"""Reading settings from the environment, loudly.

A required variable that is missing or malformed raises ``ImproperlyConfigured`` naming it.
Any variable may instead be read from a file named by ``<NAME>_FILE`` (Docker/K8s secrets).
In development, ``dev_default`` generates a value once and keeps it under ``./var/`` so restarts
keep working (sessions stay valid, vault secrets stay decryptable).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points at {file_name!r}, which cannot be read ({exc.strerror})"
            ) from exc
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def env_str(name: str, default: str | object = _MISSING) -> str:
    value = _raw(name)
    if value is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"The environment variable {name} is required but not set.")
        return default  # type: ignore[return-value]
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}.")


def env_int(name: str, default: int) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def dev_default(name: str, var_dir: Path, generate: Callable[[], str], *, production: bool) -> str:
    """The variable's value; outside production, a generated one kept in ``var_dir``."""
    value = _raw(name)
    if value is not None:
        return value
    if production:
        raise ImproperlyConfigured(
            f"The environment variable {name} is required in production but not set."
        )
    path = var_dir / f"{name.lower()}.dev"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    generated = generate()
    path.write_text(generated)
    path.chmod(0o600)
    return generated
