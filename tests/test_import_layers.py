"""The import contract: apps import downhill only, and no two modules of a package import each
other in a circle (``[tool.importlinter]`` in pyproject.toml, checked by import-linter)."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import vmcp_platform

BASE_DIR = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _config() -> dict:
    return tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=BASE_DIR,
        env={"PYTHONPATH": str(BASE_DIR), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_vmcp_platform_module_is_in_a_layer() -> None:
    """vmcp_platform is listed module by module; a new one must be placed, not skipped."""
    (layers,) = [c["layers"] for c in _config()["contracts"] if c["type"] == "layers"]
    named = {name for layer in layers for name in re.split(r"[\s:|]+", layer) if name}
    modules = {
        f"vmcp_platform.{info.name}" for info in pkgutil.iter_modules(vmcp_platform.__path__)
    }
    assert modules - named == set(), "place these in a layer of the contract"


def test_every_app_is_a_root_package() -> None:
    apps = {p.parent.name for p in BASE_DIR.glob("*/__init__.py")} - {"tests", "bench", "scripts"}
    assert apps - set(_config()["root_packages"]) == set()
