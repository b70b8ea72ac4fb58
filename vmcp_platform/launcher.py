"""The README's two commands: ``run`` (the whole platform) and ``test`` (lint + the suite).

Both start embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset, and stop them on exit.
Usage: python -m vmcp_platform.launcher {run,test} [--help]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from vmcp_platform.embedded import LAST_RUN_FILE, embedded_services

BASE_DIR = Path(__file__).resolve().parent.parent
PY = sys.executable


def _manage(*args: str, settings: str = "vmcp_platform.settings.base") -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings}
    subprocess.run([PY, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def _wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.3)
    return False


DEMO_LOGIN_FILE = "demo-login.txt"
DEMO_EMAIL = "admin@demo.local"


def demo_login_write(var: Path, email: str, password: str) -> None:
    """Keep the demo login in ``var/demo-login.txt`` (owner-only), e-mail and password."""
    path = var / DEMO_LOGIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"login: {email}\npassword: {password}\n")
    path.chmod(0o600)


def demo_login_read(var: Path) -> tuple[str, str] | None:
    """(e-mail, password) from ``var/demo-login.txt``; earlier versions kept the password alone."""
    path = var / DEMO_LOGIN_FILE
    if not path.exists():
        return None
    fields: dict[str, str] = {}
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if "password" not in fields:
        return (DEMO_EMAIL, lines[0]) if lines else None
    return fields.get("login", DEMO_EMAIL), fields["password"]


def masked_url(url: str) -> str:
    """The URL with its password replaced, fit to print or keep in a file."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:PASSWORD@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _remember_database(var: Path, external_url: str | None) -> None:
    """What a later ``manage.py`` without DATABASE_URL should be told to export."""
    path = var / LAST_RUN_FILE
    if external_url:
        var.mkdir(parents=True, exist_ok=True)
        path.write_text(masked_url(external_url) + "\n")
    else:
        path.unlink(missing_ok=True)


def ready_block(base: str, var: Path) -> str:
    """The last thing `make run` prints, after migrations and Celery's banner."""
    login = demo_login_read(var)
    email, password = login if login else (DEMO_EMAIL, "(not kept: reset it with changepassword)")
    rule = "  " + "─" * 66
    return "\n".join(
        [
            "",
            rule,
            f"  vmcp is up      {base}/t/demo/dashboard/",
            f"  login           {email}",
            f"  password        {password}",
            f"  kept in         {var / DEMO_LOGIN_FILE}",
            "  stop            Ctrl-C (web, worker, beat and any embedded servers)",
            rule,
            "",
        ]
    )


def run(args: argparse.Namespace) -> int:
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    var = Path(os.environ.get("VMCP_VAR_DIR", BASE_DIR / "var"))
    _remember_database(var, os.environ.get("DATABASE_URL"))
    with embedded_services():
        print("· migrating shared and tenant schemas …", flush=True)
        _manage("migrate_schemas", "--executor=standard", "-v", "0")
        _manage("demo_ensure")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "vmcp_platform.settings.base"}
        if args.debug:
            env["DEBUG"] = "true"
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Web, worker and beat share one metrics directory, so /metrics sums all three;
            # emptied first, or the counters of the previous run would be summed in too.
            metrics_dir = var / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        commands = {
            "web": [
                PY,
                "-m",
                "vmcp_platform.web",  # daphne on uvloop
                "-b",
                args.host,
                "-p",
                str(args.port),
                "vmcp_platform.asgi:application",
            ],
            "worker": [
                PY,
                "-m",
                "celery",
                "-A",
                "vmcp_platform",
                "worker",
                "-l",
                "warning",
                "--concurrency",
                "2",
                "-n",
                f"worker-{os.getpid()}@%h",
            ],
            "beat": [
                PY,
                "-m",
                "celery",
                "-A",
                "vmcp_platform",
                "beat",
                "-l",
                "warning",
                "-s",
                str(var / "celerybeat-schedule"),
            ],
        }
        processes = [
            subprocess.Popen(cmd, cwd=BASE_DIR, env=env, start_new_session=True)
            for cmd in commands.values()
        ]
        try:
            base = f"http://{args.host}:{args.port}"
            if _wait_healthy(f"{base}/healthz", processes):
                # Celery prints its banner after start-up: let it, so the block comes last.
                time.sleep(float(os.environ.get("VMCP_READY_DELAY", "2")))
                print(ready_block(base, var), flush=True)
            else:
                print("! the web process did not become healthy", file=sys.stderr, flush=True)
                stopping = True
            while not stopping and all(p.poll() is None for p in processes):
                time.sleep(0.5)
        finally:
            print("· stopping web, worker and beat …", flush=True)
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
    failed = [
        name
        for name, p in zip(commands, processes, strict=True)
        if p.returncode not in (0, -signal.SIGTERM, None) and not stopping
    ]
    return 1 if failed else 0


def _ensure_chromium() -> None:
    """The browser tests drive Debian's chromium; install it where we may (CI runs as root)."""
    if os.environ.get("VMCP_CHROMIUM") or shutil.which("chromium"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            "! chromium is missing: the browser tests will fail. Install Debian's chromium "
            "package (apt-get install -y chromium) or set VMCP_CHROMIUM.",
            flush=True,
        )
        return
    print("· installing Debian's chromium for the browser tests …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"],
        env=env,
        check=False,
    )


def _ensure_haproxy() -> None:
    """The scale-out tests put daphne processes behind Debian's haproxy; install it likewise."""
    if shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(
            "! haproxy is missing: the scale-out tests will be skipped (they fail under CI). "
            "Install Debian's haproxy package (apt-get install -y haproxy).",
            flush=True,
        )
        return
    print("· installing Debian's haproxy for the scale-out tests …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], env=env, check=False)


def test(args: argparse.Namespace) -> int:
    _ensure_chromium()
    _ensure_haproxy()
    print("· ruff check", flush=True)
    lint = subprocess.run([PY, "-m", "ruff", "check", "."], cwd=BASE_DIR)
    if lint.returncode != 0:
        return lint.returncode
    with embedded_services():
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "vmcp_platform.settings.test"}
        result = subprocess.run([PY, "-m", "pytest", *args.pytest_args], cwd=BASE_DIR, env=env)
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vmcp", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start web (daphne), Celery worker and beat")
    run_parser.add_argument("--host", default=os.environ.get("VMCP_HOST", "127.0.0.1"))
    run_parser.add_argument("--port", type=int, default=int(os.environ.get("VMCP_PORT", "8000")))
    run_parser.add_argument(
        "--debug",
        action="store_true",
        help="serve Django's debug pages (they show settings: never on a reachable address)",
    )
    run_parser.set_defaults(func=run)
    test_parser = sub.add_parser("test", help="ruff and the whole pytest suite")
    test_parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest")
    test_parser.set_defaults(func=test)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
