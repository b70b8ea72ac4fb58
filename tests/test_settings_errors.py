"""Settings fail loudly, naming the variable; dev defaults persist under ./var/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
GOOD_KEYS = "1:" + "A" * 43 + "="


def _load_settings(module: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SECRET_KEY",
            "VMCP_MASTER_KEYS",
            "DATABASE_URL",
            "REDIS_URL",
            "PUBLIC_BASE_URL",
            "ALLOWED_HOSTS",
            "DEBUG",
            "VMCP_ENV",
        }
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('loaded')"],
        env={**clean, "DJANGO_SETTINGS_MODULE": module, "VMCP_VAR_DIR": str(tmp_path), **env},
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


PROD_OK = {
    "SECRET_KEY": "s" * 50,
    "VMCP_MASTER_KEYS": GOOD_KEYS,
    "DATABASE_URL": "postgresql://u@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_production_settings_load_with_every_required_variable(tmp_path):
    result = _load_settings("vmcp_platform.settings.production", PROD_OK, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "VMCP_MASTER_KEYS", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_a_required_variable(tmp_path, missing):
    env = {k: v for k, v in PROD_OK.items() if k != missing}
    result = _load_settings("vmcp_platform.settings.production", env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VMCP_MASTER_KEYS", "1:not-base64!"),
        ("VMCP_MASTER_KEYS", "zero:" + "A" * 43 + "="),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("PUBLIC_BASE_URL", "not a url"),
        ("ALLOWED_HOSTS", "*"),
        ("DEBUG", "maybe"),
    ],
)
def test_malformed_values_stop_start_up_naming_the_variable(tmp_path, variable, value):
    result = _load_settings(
        "vmcp_platform.settings.production", {**PROD_OK, variable: value}, tmp_path
    )
    assert result.returncode != 0
    assert variable in result.stderr
    # A malformed secret must not be echoed back into logs.
    if variable == "VMCP_MASTER_KEYS":
        assert value.split(":", 1)[1] not in result.stderr


def test_secret_may_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("f" * 50)
    env = {k: v for k, v in PROD_OK.items() if k != "SECRET_KEY"}
    env["SECRET_KEY_FILE"] = str(secret_file)
    result = _load_settings("vmcp_platform.settings.production", env, tmp_path)
    assert result.returncode == 0, result.stderr


def test_development_generates_defaults_once_and_keeps_them(tmp_path):
    env = {"DATABASE_URL": PROD_OK["DATABASE_URL"], "REDIS_URL": PROD_OK["REDIS_URL"]}
    first = _load_settings("vmcp_platform.settings.base", env, tmp_path)
    assert first.returncode == 0, first.stderr
    secret = (tmp_path / "secret_key.dev").read_text()
    keys = (tmp_path / "vmcp_master_keys.dev").read_text()
    assert len(secret) >= 50 and keys.startswith("1:")
    second = _load_settings("vmcp_platform.settings.base", env, tmp_path)
    assert second.returncode == 0
    assert (tmp_path / "secret_key.dev").read_text() == secret
    assert (tmp_path / "vmcp_master_keys.dev").read_text() == keys
