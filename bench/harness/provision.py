"""Provisioning through the product's own services: tenants, connections, a config, tokens.

Everything here is sync Django ORM, run from the benchmark's main thread (no event loop running).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection as db
from django.utils import timezone
from django_tenants.utils import tenant_context

from vmcp_platform.errors import ValidationFailed

BENCH_SLUG = "bench"
SCALE_PREFIX = "bench-scale-"
PASSWORD = "bench-password-not-secret"
HIGH_LIMIT = 10_000_000
ACTOR = "bench"


@dataclass
class Bench:
    tenant: Any
    config_id: str
    tokens: list[str]  # one per end user ("user-0", "user-1", …)
    upstream_url: str
    fake_gmail_url: str = ""
    gmail_token: str = ""  # the fake provider's access token for user-0 (direct calls)
    scoped_config_id: str = ""  # a server exposing 3 of gmail's tools (tools/list size)
    scoped_token: str = ""
    full_config_id: str = ""  # a server exposing all of gmail's tools
    full_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def mcp_path(self, config_id: str | None = None) -> str:
        return f"/t/{self.tenant.slug}/mcp/{config_id or self.config_id}"


@contextlib.contextmanager
def quiet() -> Any:
    """Silence django-tenants' per-migration chatter while creating schemas."""
    names = ("django_tenants", "tenants", "django.db.backends", "audit")
    previous = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for n, level in previous.items():
            logging.getLogger(n).setLevel(level)


def drop_bench_tenants(progress: Callable[[str], None], *, keep_scale: bool = False) -> None:
    from tenants.models import Tenant
    from tenants.services import tenant_delete

    stale = Tenant.objects.filter(slug__startswith=BENCH_SLUG)
    if keep_scale:
        stale = stale.exclude(slug__startswith=SCALE_PREFIX)
    stale = list(stale)
    for index, tenant in enumerate(stale, 1):
        with quiet():
            tenant_delete(tenant=tenant)
        if index % 100 == 0:
            progress(f"dropped {index}/{len(stale)} bench tenants")
    db.set_schema_to_public()


def create_tenant(slug: str) -> Any:
    from tenants.models import Tenant
    from tenants.services import tenant_create

    with quiet():
        tenant = tenant_create(
            slug=slug,
            name=f"Bench {slug}",
            owner_email=f"owner@{slug}.bench.test",
            owner_password=PASSWORD,
        )
    # Rate limits stay ON (every call runs the Redis script) but high enough not to refuse.
    Tenant.objects.filter(pk=tenant.pk).update(
        rate_limit_per_minute=HIGH_LIMIT,
        user_rate_limit_per_minute=HIGH_LIMIT,
        end_user_rate_limit_per_minute=HIGH_LIMIT,
    )
    tenant.refresh_from_db()
    db.set_schema_to_public()
    return tenant


def provision(*, upstream_url: str, fake: dict[str, Any] | None, users: int) -> Bench:
    """The bench tenant: an upstream ``mcp`` connection, gmail (fake provider), configs, tokens."""
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create, connection_sync_tools
    from configs.services.mcp_configs import mcp_config_create

    tenant = create_tenant(BENCH_SLUG)
    bench = Bench(tenant=tenant, config_id="", tokens=[], upstream_url=upstream_url)
    with tenant_context(tenant):
        upstream = connection_create(
            name="up",
            connector="mcp",
            auth_type="none",
            settings={"server_url": upstream_url},
            secrets=None,
            actor=ACTOR,
        )
        tools = connection_sync_tools(connection=upstream, actor=ACTOR)
        if not any(t.get("name") == "echo" for t in tools):
            raise RuntimeError(f"the upstream's tools were not synced: {tools!r}")
        mappings: list[dict[str, Any]] = [{"connection_name": "up", "tools": ["echo"]}]
        mappings.append({"connection_name": "demo", "tools": ["demo_echo"]})
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor=ACTOR
        )
        if fake is not None:
            _gmail(bench, fake)
            mappings.append({"connection_name": "gmail", "tools": ["gmail_list_labels"]})
        try:
            config = mcp_config_create(
                name="bench",
                description="The benchmark's virtual server.",
                mappings=mappings,
                # The per-user limit falls back to the tenant's (HIGH_LIMIT; a config caps at 1e5).
                actor=ACTOR,
            )
        except ValidationFailed as exc:
            raise RuntimeError(f"config refused: {exc.details}") from None
        bench.config_id = str(config.pk)
        for index in range(users):
            minted = session_token_mint(
                config=config, identifier=f"user-{index}", expiry_seconds=24 * 3600, actor=ACTOR
            )
            bench.tokens.append(minted.secret)
        if fake is not None:
            _gmail_servers(bench)
    db.set_schema_to_public()
    return bench


def _gmail(bench: Bench, fake: dict[str, Any]) -> None:
    """A gmail connection against the fake Google; user-0 … user-7 with ACTIVE accounts."""
    from configs.services.connections import connection_create
    from vault.models import ConnectedAccount, Secret
    from vault.secrets import secret_put

    bench.fake_gmail_url = fake["gmail_url"]
    gmail = connection_create(
        name="gmail",
        connector="gmail",
        auth_type="oauth2",
        settings={"client_id": "bench-client", "api_base_url": bench.fake_gmail_url},
        secrets={"client_secret": "bench-client-secret"},
        actor=ACTOR,
    )
    for index, (user, issued) in enumerate(fake["tokens"].items()):
        if index == 0:
            bench.gmail_token = issued["access_token"]
        # The state the connect flow leaves behind (that flow has its own tests).
        account = ConnectedAccount.objects.create(
            connection=gmail,
            identifier=user,
            status=ConnectedAccount.Status.ACTIVE,
            token_expires_at=timezone.now() + timedelta(days=1),
            connected_at=timezone.now(),
        )
        secret_put(
            owner_type=Secret.OwnerType.ACCOUNT,
            owner_id=account.pk,
            field="oauth_tokens",
            value=json.dumps(
                {
                    "access_token": issued["access_token"],
                    "refresh_token": issued.get("refresh_token"),
                    "token_type": "Bearer",
                }
            ),
        )


def _gmail_servers(bench: Bench) -> None:
    """Two more servers for the tools/list size cross-check: gmail scoped to 3 tools, and all."""
    from accounts.services.sessions import session_token_mint
    from configs.selectors import connection_get, connection_tools
    from configs.services.mcp_configs import mcp_config_create

    names = [t["name"] for t in connection_tools(connection_get(name="gmail"))]
    for attr, tools in (("scoped", names[:3]), ("full", ["*"])):
        config = mcp_config_create(
            name=f"gmail-{attr}",
            mappings=[{"connection_name": "gmail", "tools": tools}],
            actor=ACTOR,
        )
        minted = session_token_mint(
            config=config, identifier="user-0", expiry_seconds=24 * 3600, actor=ACTOR
        )
        setattr(bench, f"{attr}_config_id", str(config.pk))
        setattr(bench, f"{attr}_token", minted.secret)


def tool_called_rows(tenant: Any) -> int:
    from audit.models import AuditEvent, EventType

    with tenant_context(tenant):
        count = AuditEvent.objects.filter(event_type=EventType.TOOL_CALLED).count()
    db.set_schema_to_public()
    return count


# ---------------------------------------------------------------- scale


def ensure_scale_tenants(total: int, progress: Callable[[str], None]) -> dict[str, float]:
    """Make the platform hold ``total`` tenants (bench + persona-free scale tenants)."""
    from tenants.models import Tenant

    have = Tenant.objects.exclude(schema_name="public").count()
    needed = total - have
    started = time.perf_counter()
    created = 0
    existing = set(
        Tenant.objects.filter(slug__startswith=SCALE_PREFIX).values_list("slug", flat=True)
    )
    index = 0
    while created < needed:
        slug = f"{SCALE_PREFIX}{index:05d}"
        index += 1
        if slug in existing:
            continue
        create_tenant(slug)
        created += 1
        if created % 25 == 0 or created == needed:
            rate = created / (time.perf_counter() - started)
            eta = (needed - created) / rate if rate else 0
            progress(f"  provisioned {created}/{needed} tenants ({rate:.1f}/s, ~{eta:.0f}s left)")
    elapsed = time.perf_counter() - started
    return {
        "created": max(needed, 0),
        "seconds": round(elapsed, 1),
        "per_tenant_ms": round(1000 * elapsed / needed, 1) if needed > 0 else None,
    }


def bulk_session_tokens(bench: Bench, count: int) -> float:
    """``count`` extra live tokens for the bench config (bulk insert; only hashes are stored)."""
    from configs.models import SessionToken
    from vmcp_platform import tokens

    started = time.perf_counter()
    expires = timezone.now() + timedelta(days=1)
    with tenant_context(bench.tenant):
        batch = []
        for index in range(count):
            secret = tokens.generate(tokens.SESSION_TOKEN_PREFIX)
            batch.append(
                SessionToken(
                    config_id=bench.config_id,
                    identifier=f"bulk-{index}",
                    token_hash=tokens.hash_token(secret),
                    prefix=tokens.display_prefix(secret),
                    created_by=ACTOR,
                    expires_at=expires,
                )
            )
        SessionToken.objects.bulk_create(batch, batch_size=2000)
    db.set_schema_to_public()
    return time.perf_counter() - started


AUDIT_COLUMNS = (
    "occurred_at",
    "event_type",
    "outcome",
    "error_code",
    "actor",
    "identifier",
    "connection_name",
    "tool_name",
    "latency_ms",
    "request_id",
    "agent_run_id",
    "extra",
)


def copy_audit_rows(bench: Bench, rows: int, progress: Callable[[str], None]) -> float:
    """``rows`` tool.called events with COPY, all older than the tenant's retention (so the
    purge that follows has exactly these to delete)."""
    from audit.models import AuditEvent

    started = time.perf_counter()
    oldest = datetime.now(UTC) - timedelta(days=bench.tenant.audit_retention_days + 30)
    with tenant_context(bench.tenant), db.cursor() as cursor:
        table = db.ops.quote_name(AuditEvent._meta.db_table)
        with cursor.cursor.copy(f"COPY {table} ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
            for i in range(rows):
                copy.write_row(
                    (
                        oldest + timedelta(milliseconds=i * 10),
                        "tool.called",
                        "ok",
                        "",
                        f"identifier:user-{i % 1000}",
                        f"user-{i % 1000}",
                        "up",
                        "echo",
                        3,
                        str(i),
                        "",
                        '{"execution_id": "bench"}',
                    )
                )
                if i and i % 250_000 == 0:
                    progress(f"  copied {i:,}/{rows:,} audit rows")
        cursor.execute(f"ANALYZE {table}")
    db.set_schema_to_public()
    return time.perf_counter() - started


def purge_audit(bench: Bench) -> tuple[float, dict[str, int]]:
    from audit.purge import purge_expired
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=bench.tenant.pk)
    started = time.perf_counter()
    counts = purge_expired(tenant=tenant)
    db.set_schema_to_public()
    return time.perf_counter() - started, counts
