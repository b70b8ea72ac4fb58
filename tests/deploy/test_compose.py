"""compose.yaml: valid against the Compose Specification schema, and wired as the README says."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"
SCHEMA_SHA256 = "46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496"
VMCP_SERVICES = {"migrate", "web-1", "web-2", "worker", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_the_vendored_schema_is_the_pinned_copy():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_matches_the_compose_specification(compose, validator):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_check_catches_a_broken_file(compose, validator):
    for service, key, value in (
        ("worker", "restart_policy", "always"),  # a misspelt key
        ("lb", "depends_on", {"web-1": {"condition": "service_finished"}}),  # a wrong value
    ):
        broken = copy.deepcopy(compose)
        broken["services"][service][key] = value
        paths = [list(e.absolute_path) for e in validator.iter_errors(broken)]
        assert paths and all(path[:2] == ["services", service] for path in paths), paths


def test_every_vmcp_process_waits_for_the_one_migration_run(compose):
    services = compose["services"]
    assert VMCP_SERVICES | {"postgres", "redis", "lb"} == set(services)
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate_schemas", "--executor=standard"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in VMCP_SERVICES - {"migrate"}:
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["beat"]["command"][:4] == ["celery", "-A", "vmcp_platform", "beat"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "vmcp_platform", "worker"]
    assert "command" not in services["web-1"]  # the image's default: daphne


def test_processes_run_production_settings_with_secrets_from_files(compose):
    for name in VMCP_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "vmcp_platform.settings.production"
        for secret in ("SECRET_KEY", "VMCP_MASTER_KEYS", "DATABASE_URL"):
            assert secret not in env
            assert env[f"{secret}_FILE"].startswith("/run/secrets/")
            assert Path(env[f"{secret}_FILE"]).name in service["secrets"]
        assert "localhost" in env["ALLOWED_HOSTS"].split(",")  # the health checks' Host
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
    files = {s["file"] for s in compose["secrets"].values()}
    assert all(f.startswith("deploy/compose/secrets/") for f in files)


def test_the_load_balancer_spreads_over_both_web_processes_without_stickiness(compose):
    cfg = (ROOT / compose["configs"]["haproxy"]["file"]).read_text()
    assert re.findall(r"^\s*server (\S+) (\S+):8000 check$", cfg, re.M) == [
        ("web-1", "web-1"),
        ("web-2", "web-2"),
    ]
    assert "balance roundrobin" in cfg
    assert not re.search(r"^\s*(cookie|stick|balance source|hash-type)", cfg, re.M)
    assert "uri /healthz" in cfg and "hdr Host localhost" in cfg
    assert compose["services"]["lb"]["ports"] == ["8000:8000"]
