"""vmcp benchmarks: vmcp vs direct vs FastMCP, latency, throughput, tokens, scale, ASGI server.

    python bench/run.py [--quick]
        [--sections compare,latency,throughput,lb,tokens,scale,asgi,profile]
        [--json bench/results/latest.json] [--markdown bench/results/latest.md]

Against the PostgreSQL and Redis named by DATABASE_URL / REDIS_URL, or embedded ones (started
under ./var and stopped afterwards) when those are unset. Everything runs on this machine: an
upstream MCP server built with the ``mcp`` SDK (``bench/upstream.py``, its own process), the fake
Google API (``tests/fakes/providers.py``), one to three gateway web processes (daphne or uvicorn
serving ``vmcp_platform.asgi:application``; the ``lb`` section puts 1, 2 and 3 behind Debian's
HAProxy), and the load generator (this process).

The ``compare`` section also runs a FastMCP proxy (``bench/peers/fastmcp_proxy.py``, ``fastmcp``
pinned in ``bench/peers/requirements.txt``, installed on first use into its own virtualenv under
``var/bench/fastmcp-venv``) in front of the same upstream, measures direct / vmcp / FastMCP
interleaved, and ends the run with issue 13's targets table (measured vs target, a verdict per
row). How each figure is measured: ``bench/RESULTS.md``.

The bench provisions, through the product's services, a tenant ``bench`` (rate limits on, set
high), an ``mcp`` connection to the upstream, a ``demo`` and a ``gmail`` connection, a virtual
server exposing ``echo``, ``demo_echo`` and ``gmail_list_labels``, and session tokens; it drops
every ``bench*`` tenant at the end (``--keep`` keeps them; the scale tenants can be reused).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

ALL_SECTIONS = ("compare", "latency", "throughput", "lb", "tokens", "scale", "asgi")
EXTRA_SECTIONS = ("profile",)
_t0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _t0:7.1f}s] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="sections:\n"
        "  compare     direct vs vmcp vs a FastMCP proxy, interleaved; issue 13's targets table\n"
        "  latency     added latency over direct (c=1, c=32, tools/list, built-ins)\n"
        "  throughput  closed loop, one and two web processes\n"
        "  lb          1, 2, 3 daphne processes behind HAProxy: calls/s, CPU s per 1k calls\n"
        "  tokens      tools/list sizes, estimated and on the wire\n"
        "  scale       1..1,000 tenants, 10k/1M session tokens and audit rows, retention purge\n"
        "  asgi        daphne vs uvicorn\n"
        "  profile     py-spy on a web process under c=32 load (not in the default)\n\n"
        "How each figure is measured, and the latest figures: bench/RESULTS.md.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer calls, shorter runs, 100 tenants"
    )
    parser.add_argument(
        "--sections",
        default=",".join(ALL_SECTIONS),
        help=f"comma-separated, from {', '.join(ALL_SECTIONS + EXTRA_SECTIONS)}"
        " (default: all but profile)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=BASE_DIR / "bench/results/latest.json",
        help="raw figures (default: bench/results/latest.json)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=BASE_DIR / "bench/results/latest.md",
        help="the printed tables (default: bench/results/latest.md)",
    )
    parser.add_argument(
        "--server",
        choices=("daphne", "uvicorn"),
        default="daphne",
        help="ASGI server for the latency/throughput/scale sections",
    )
    parser.add_argument(
        "--tenants",
        default=None,
        help="tenant counts for the scale section (default 1,100,1000; quick 1,100)",
    )
    parser.add_argument("--users", type=int, default=64, help="end users (session tokens)")
    parser.add_argument("--keep", action="store_true", help="keep the bench tenants afterwards")
    parser.add_argument(
        "--profile-seconds", type=float, default=15.0, help="py-spy duration (profile section)"
    )
    parser.add_argument(
        "--db-conn-max-age",
        default=os.environ.get("DB_CONN_MAX_AGE", "60"),
        help="DB_CONN_MAX_AGE for the web processes (default: $DB_CONN_MAX_AGE, else 60; "
        "0 = a new PostgreSQL connection for every ORM step, the settings' default)",
    )
    args = parser.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(args.sections) - set(ALL_SECTIONS + EXTRA_SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        return "?"

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        redis_version = client.info("server").get("redis_version", "?")
    finally:
        client.close()
    mem_kb = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "nproc": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "ram_gib": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else "?",
        "python": platform.python_version(),
        "postgresql": pg,
        "redis": redis_version,
        "kernel": platform.release(),
        "daphne": _pkg_version("daphne"),
        "uvicorn": _pkg_version("uvicorn"),
    }


def _pkg_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:
        return f"{name} ?"


def prepare_environment(args: argparse.Namespace) -> dict[str, str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vmcp_platform.settings.base")
    allowed = [h for h in os.environ.get("VMCP_SSRF_ALLOWED_HOSTS", "").split(",") if h]
    # The upstream runs on loopback, which the SSRF guard refuses unless the operator allows it.
    for host in ("127.0.0.1", "localhost"):
        if host not in allowed:
            allowed.append(host)
    os.environ["VMCP_SSRF_ALLOWED_HOSTS"] = ",".join(allowed)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Production-like: DEBUG keeps every query in memory and wraps every cursor.
    os.environ.setdefault("DEBUG", "false")
    os.environ["DB_CONN_MAX_AGE"] = str(args.db_conn_max_age)
    os.environ["PYTHONPATH"] = str(BASE_DIR)
    return dict(os.environ)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from vmcp_platform.embedded import embedded_services

    with embedded_services():
        env = prepare_environment(args)
        progress("migrating shared and tenant schemas …")
        subprocess.run(
            [sys.executable, "manage.py", "migrate_schemas", "--executor=standard", "-v", "0"],
            cwd=BASE_DIR,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        import django

        django.setup()
        return run(args, env)


def run(args: argparse.Namespace, env: dict[str, str]) -> int:
    from bench.harness import compare, lb, provision, sections, servers, targets

    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "server": args.server,
        "db_conn_max_age": args.db_conn_max_age,
        "debug": os.environ.get("DEBUG"),
        "machine": machine(),
        "sections": {},
    }
    progress(f"machine: {results['machine']}")
    progress("dropping bench tenants left by an earlier run …")
    provision.drop_bench_tenants(progress, keep_scale=True)

    upstream, upstream_url = servers.upstream(env)
    fake_process = None
    rendered: dict[str, str] = {}
    try:
        progress(f"starting the upstream MCP server ({upstream_url}) and the fake providers …")
        upstream.start()
        fake_process, fake = servers.fake_google(env, args.users)
        progress("provisioning the bench tenant through the services …")
        bench = provision.provision(upstream_url=upstream_url, fake=fake, users=args.users)
        ctx = sections.Ctx(
            quick=args.quick,
            env=env,
            bench=bench,
            progress=progress,
            server=args.server,
            upstream_pid=upstream.pid,
        )
        levels = (
            tuple(int(x) for x in args.tenants.split(","))
            if args.tenants
            else ((1, 100) if args.quick else (1, 100, 1000))
        )
        plan = {
            "compare": (compare.compare_section, targets.render_compare, ()),
            "latency": (sections.latency, sections.render_latency, ()),
            "throughput": (sections.throughput_section, sections.render_throughput, ()),
            "lb": (lb.lb_section, lb.render_lb, ()),
            "tokens": (sections.tokens_section, sections.render_tokens, ()),
            "scale": (
                sections.scale_section,
                sections.render_scale,
                (levels, 1_000 if args.quick else 10_000, 100_000 if args.quick else 1_000_000),
            ),
            "asgi": (sections.asgi_section, sections.render_asgi, ()),
            "profile": (sections.profile_section, sections.render_profile, (args.profile_seconds,)),
        }
        for name in args.sections:
            measure, render, extra = plan[name]
            progress(f"== {name} ==")
            started = time.monotonic()
            data = measure(ctx, *extra)
            data["section_seconds"] = round(time.monotonic() - started, 1)
            results["sections"][name] = data
            try:
                rendered[name] = render(data)
            except Exception as exc:  # a table bug must not lose the figures (JSON below)
                rendered[name] = f"(could not render: {exc!r}; see the JSON)"
            print(f"\n{name}\n{rendered[name]}\n", flush=True)
            write_outputs(args, results, rendered)
    finally:
        if fake_process is not None:
            servers.stop_process(fake_process)
        upstream.stop()
        if not args.keep:
            progress("dropping the bench tenants …")
            provision.drop_bench_tenants(progress)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if "compare" in results["sections"]:
        # Last, so that it is what the run ends on: issue 13's targets, measured vs target.
        try:
            rendered["targets"] = targets.render_targets(results["sections"]["compare"])
        except Exception as exc:
            rendered["targets"] = f"(could not render: {exc!r}; see the JSON)"
    write_outputs(args, results, rendered)
    progress(f"wrote {args.json} and {args.markdown}")
    if "targets" in rendered:
        print(f"\ntargets (issue 13)\n{rendered['targets']}\n", flush=True)
    return 0


def write_outputs(args: argparse.Namespace, results: dict[str, Any], rendered: dict) -> None:
    """Written after every section, so an interrupted run keeps what it measured."""
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown(results, rendered))


def markdown(results: dict[str, Any], rendered: dict[str, str]) -> str:
    m = results["machine"]
    lines = [
        f"Run {results['started_at']} ({'quick' if results['quick'] else 'full'}), "
        f"gateway under {results['server']}, DB_CONN_MAX_AGE={results['db_conn_max_age']}.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}, Redis {m['redis']}, {m['daphne']}, {m['uvicorn']}; "
        "client, gateway, upstream, PostgreSQL and Redis all on this machine.",
        "",
    ]
    for name, text in rendered.items():
        lines += [f"### {name}", "", "```", text, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
