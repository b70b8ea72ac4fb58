"""First run: a hand-run ``manage.py`` never makes an empty embedded database; ``make run`` ends
with the login block; ``var/demo-login.txt`` keeps the login."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

from vmcp_platform.launcher import (
    demo_login_read,
    demo_login_write,
    masked_url,
    ready_block,
)

BASE_DIR = Path(__file__).resolve().parent.parent


def _manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "VMCP_ENV"}}
    env.update(DJANGO_SETTINGS_MODULE="vmcp_platform.settings.base", VMCP_VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_without_database_url_says_what_to_export_in_one_line(tmp_path):
    result = _manage(tmp_path, "showmigrations")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL is not set" in lines[0]
    assert "export DATABASE_URL=" in lines[0]
    # No empty embedded cluster was made as a side effect.
    assert not (tmp_path / "postgres").exists()


def test_the_hint_names_the_url_make_run_last_used_without_its_password(tmp_path):
    (tmp_path / "last-run-database.txt").write_text(
        masked_url("postgresql://vmcp:s3cret@db.internal:5433/vmcp") + "\n"
    )
    # Even beside an embedded data directory of an earlier run: that one would be stale.
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "PG_VERSION").write_text("16\n")
    result = _manage(tmp_path, "tenant_delete", "demo")
    assert result.returncode == 1
    assert "last used an external database" in result.stderr
    assert "export DATABASE_URL=postgresql://vmcp:PASSWORD@db.internal:5433/vmcp" in result.stderr
    assert "s3cret" not in result.stderr


def test_demo_login_file_keeps_login_and_password_and_reads_the_old_format(tmp_path):
    demo_login_write(tmp_path, "admin@demo.local", "pw-123")
    assert demo_login_read(tmp_path) == ("admin@demo.local", "pw-123")
    assert oct((tmp_path / "demo-login.txt").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "demo-login.txt").write_text("legacy-pw\n")
    assert demo_login_read(tmp_path) == ("admin@demo.local", "legacy-pw")


def test_make_run_ends_with_url_login_password_where_kept_and_how_to_stop(tmp_path):
    demo_login_write(tmp_path, "admin@demo.local", "pw-123")
    block = ready_block("http://127.0.0.1:8000", tmp_path)
    assert "http://127.0.0.1:8000/t/demo/dashboard/" in block
    assert "admin@demo.local" in block and "pw-123" in block
    assert str(tmp_path / "demo-login.txt") in block
    assert "Ctrl-C" in block
    assert "see the login printed above" not in block


def test_demo_ensure_writes_the_login_to_var(db, settings, tmp_path, capsys):
    from tenants.models import Tenant
    from tenants.services import tenant_delete

    settings.VAR_DIR = tmp_path
    try:
        call_command("demo_ensure")
        email, password = demo_login_read(tmp_path) or ("", "")
        assert email == "admin@demo.local" and len(password) >= 12
        assert f"login: admin@demo.local / {password}" in capsys.readouterr().out
    finally:
        demo = Tenant.objects.filter(slug="demo").first()
        if demo is not None:
            tenant_delete(tenant=demo)


def test_make_run_remembers_an_external_database_url_masked_and_forgets_it_when_embedded(
    tmp_path,
):
    from vmcp_platform.launcher import _remember_database

    _remember_database(tmp_path, "postgresql://vmcp:s3cret@db:5432/vmcp")
    kept = (tmp_path / "last-run-database.txt").read_text()
    assert kept.strip() == "postgresql://vmcp:PASSWORD@db:5432/vmcp"
    _remember_database(tmp_path, None)
    assert not (tmp_path / "last-run-database.txt").exists()
