"""A tenant owner's first hour, in a real browser against the real server.

Sign in; add a Gmail connection (pointed at the local fake Google); build a virtual server by
ticking two tools and watch the token estimate drop; copy its MCP URL; send a connect link and
complete the OAuth consent in the same browser; mint a token through the REST API and call a
tool with the official ``mcp`` client; find that call in the audit log; revoke the account and
see the next call fail. Screenshots of each page land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

IDENTIFIER = "dave@e2e.test"


def call_tool(url: str, token: str, name: str, arguments: dict) -> object:
    """One tools/call with the official SDK client, on its own event loop and thread."""

    async def run() -> object:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http)) as client:
            listed = [tool.name for tool in (await client.list_tools()).tools]
            result = await client.call_tool(name, arguments)
            return listed, result

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=60)


def estimate_tokens(page) -> int:  # noqa: ANN001
    return int(page.locator("#est-tokens").get_attribute("data-tokens"))


def test_owner_builds_connects_calls_audits_and_revokes(
    e2e_server, live_tenant, fake_providers, browser_page, shoot
):
    base, page, slug = e2e_server, browser_page, live_tenant.slug
    dashboard = f"{base}/t/{slug}/dashboard"
    google = fake_providers.oauth_urls("google")
    fake_providers.register_client("google", "e2e-client", "e2e-secret", f"{base}/oauth/callback")

    # Sign in: a one-tenant owner lands on her overview, with its empty state.
    page.goto(f"{base}/login/")
    shoot(page, "01-sign-in")
    page.fill("#id_username", f"owner@{slug}.test")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{dashboard}/")
    assert page.locator("h1").inner_text() == live_tenant.name
    assert page.get_by_text("let’s set up your first virtual server").is_visible()
    shoot(page, "02-overview-empty")
    page.goto(f"{dashboard}/connectors/")
    page.fill("#catalog-search", "calendar")
    page.wait_for_function("!document.querySelector('#connector-slack')")
    shoot(page, "03-connectors")

    # Create a connection; the exact redirect URI is shown, the secret never again.
    page.goto(f"{dashboard}/connections/new/?connector=gmail")
    page.fill("#id_name", "gmail")
    page.select_option("#id_auth_type", "oauth2")
    assert page.input_value("#redirect-uri") == f"{base}/oauth/callback"
    page.fill("#id_client_id", "e2e-client")
    page.fill("#id_client_secret", "e2e-secret")
    page.click("text=Override provider URLs")
    page.fill("#id_api_base_url", fake_providers.url("gmail"))
    page.fill("#id_authorize_url", google["authorize_url"])
    page.fill("#id_token_url", google["token_url"])
    page.fill("#id_revoke_url", google["revoke_url"])
    shoot(page, "04-connection-form")
    page.click("#save-connection")
    page.wait_for_url(f"{dashboard}/connections/gmail/")
    assert re.match(r"set on \d{4}-\d\d-\d\d", page.inner_text("#secret-client_secret"))
    assert "e2e-secret" not in page.content()
    shoot(page, "05-connection")

    # Build a virtual server: all of Gmail first, then just two tools — the estimate drops.
    page.goto(f"{dashboard}/servers/new/")
    page.fill("#id_name", "inbox-e2e")
    page.fill("#id_description", "Reads the user's recent mail.")
    page.check("input[name='all:gmail']")
    page.wait_for_function("Number(document.querySelector('#est-tokens').dataset.tokens) > 0")
    everything = estimate_tokens(page)
    assert page.inner_text("#est-saving") == "0%"
    page.uncheck("input[name='all:gmail']")
    page.click("#panel-gmail [data-select-tools=none]")
    page.wait_for_function("Number(document.querySelector('#est-tokens').dataset.tokens) === 0")
    page.check("#tool-gmail-gmail_fetch_mails")
    page.check("#tool-gmail-gmail_get_message")
    page.wait_for_function("document.querySelector('#est-tools')?.innerText === '2'")
    scoped = estimate_tokens(page)
    assert 0 < scoped < everything / 5
    saving = page.inner_text("#est-saving")
    assert saving.startswith("−") and int(saving[1:-1]) >= 80
    shoot(page, "06-server-builder")
    page.click("#save-server")
    page.wait_for_url(re.compile(rf"{re.escape(dashboard)}/servers/[0-9a-f-]{{36}}/$"))
    config_id = page.url.rstrip("/").rsplit("/", 1)[1]
    mcp_url = f"{base}/t/{slug}/mcp/{config_id}"

    # Copy the MCP URL with its button.
    page.click("#copy-mcp-url")
    page.wait_for_function("document.querySelector('#copy-mcp-url').innerText === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == mcp_url
    shoot(page, "07-server")

    # A connect link for Dave; he completes Google's consent in this same browser.
    page.goto(f"{dashboard}/accounts/link/")
    page.select_option("#id_connection", "gmail")
    page.fill("#id_identifier", IDENTIFIER)
    page.click("#create-link")
    link = page.input_value("#connect-link")
    assert link.startswith(f"{base}/t/{slug}/connect/")
    shoot(page, "08-connect-link")
    page.goto(link)
    page.click("#continue")
    page.wait_for_selector("#allow")
    page.fill("#login", "dave")
    page.click("#allow")
    page.wait_for_url(re.compile(rf"^{re.escape(base)}/oauth/callback"))
    page.goto(f"{dashboard}/accounts/")
    assert page.inner_text(f"tr:has-text('{IDENTIFIER}') .badge") == "ACTIVE"
    shoot(page, "09-accounts")

    # An API key from Settings (shown once), then a token minted through the REST API.
    page.goto(f"{dashboard}/settings/")
    page.fill("#id_name", "backend")
    page.click("#create-api-key")
    api_key = page.input_value("#new-api-key")
    shoot(page, "10-settings")
    minted = httpx.post(
        f"{base}/t/{slug}/api/v1/mcp/configs/{config_id}/tokens",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"identifier": IDENTIFIER, "expiry": "600s"},
        timeout=20,
    )
    assert minted.status_code == 201, minted.text
    assert minted.json()["mcp_server_url"] == mcp_url
    token = minted.json()["token"]

    # The agent sees exactly the two tools and calls one with Dave's Gmail.
    listed, result = call_tool(mcp_url, token, "gmail_fetch_mails", {"maxResults": 5})
    assert sorted(listed) == ["gmail_fetch_mails", "gmail_get_message"]
    assert result.is_error is False, result.content

    # The call is in the audit log, found by filtering.
    page.goto(f"{dashboard}/audit/?tool=gmail_fetch_mails&identifier={IDENTIFIER}")
    row = page.locator("table.audit tbody tr")
    assert row.count() == 1
    assert "tool.called" in row.inner_text() and "ok" in row.inner_text()
    shoot(page, "11-audit-log")
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/audit/\d+/$"))
    shoot(page, "12-audit-event")
    page.goto(f"{dashboard}/tokens/")
    shoot(page, "13-tokens")
    page.goto(f"{dashboard}/")
    shoot(page, "14-overview")

    # Revoke Dave's account (confirmed); his next call fails, and says why.
    page.goto(f"{dashboard}/accounts/")
    page.click(f"tr:has-text('{IDENTIFIER}') >> text=Revoke")
    shoot(page, "15-confirm-revoke")
    page.click("#confirm")
    page.wait_for_url(f"{dashboard}/accounts/")
    assert page.inner_text(f"tr:has-text('{IDENTIFIER}') .badge") == "REVOKED"
    _, after = call_tool(mcp_url, token, "gmail_fetch_mails", {"maxResults": 5})
    assert after.is_error is True
    assert "account" in after.content[0].text.lower()


@pytest.fixture
def month_of_calls(live_tenant, django_db_blocker) -> int:  # noqa: ANN001
    """A month of tool calls in the live tenant's audit trail (written before the browser runs:
    Playwright's sync API keeps an event loop on this thread, where Django refuses ORM calls)."""
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from audit.models import AuditEvent
    from configs.tools import config_exposed_tools
    from dashboard.catalog import estimate_tokens as estimate

    now = timezone.now()
    # Each day's calls fall inside that calendar day (UTC), between its midnight and the time
    # of day it is now: "n minutes before now" crossed into the day before shortly after
    # midnight, and the chart, which counts by calendar day, lost them.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    for day in range(30):
        count = 5 + (day * 7) % 23
        for n in range(count):
            outcome = "error" if n % 9 == 4 else "denied" if n % 13 == 6 else "ok"
            rows.append(
                AuditEvent(
                    occurred_at=midnight
                    - timedelta(days=day)
                    + (now - midnight) * (n + 1) / (count + 1),
                    event_type="tool.denied" if outcome == "denied" else "tool.called",
                    outcome=outcome,
                    error_code="provider_error" if outcome == "error" else "",
                    identifier=f"user{n % 4}@example.com",
                    tool_name=("gmail_fetch_mails", "slack_send_message", "github_list_issues")[
                        n % 3
                    ],
                    connection_name="gmail",
                    latency_ms=40 + n,
                    extra={"provider_ms": 30 + n} if outcome != "denied" else {},
                )
            )
    with django_db_blocker.unblock(), tenant_context(live_tenant):
        # A scoped server whose agents listed its tools a few times a day: the overview's
        # token savings come from those listings.
        server = _inbox_server()
        sent = sum(estimate(t.definition) for t in config_exposed_tools(server))
        for day in range(30):
            for n in range(3):
                rows.append(
                    AuditEvent(
                        occurred_at=midnight - timedelta(days=day) + (now - midnight) * n / 4,
                        event_type="tools.listed",
                        identifier=f"user{n}@example.com",
                        config_id=server.pk,
                        extra={"tool_count": 2, "token_count": sent},
                    )
                )
        AuditEvent.objects.bulk_create(rows)
    return sum(1 for r in rows if r.event_type != "tools.listed")


def _inbox_server():  # noqa: ANN202
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create

    connection_create(
        name="gmail",
        connector="gmail",
        auth_type="oauth2",
        settings={"client_id": "e2e-client"},
        secrets={"client_secret": "e2e-secret"},
        actor="tests",
    )
    return mcp_config_create(
        name="inbox-summarizer",
        mappings=[
            {"connection_name": "gmail", "tools": ["gmail_fetch_mails", "gmail_get_message"]}
        ],
        actor="tests",
    )


def test_overview_charts_a_month_of_calls_by_outcome(
    e2e_server, live_tenant, month_of_calls, browser_page, shoot
):
    page, slug = browser_page, live_tenant.slug
    page.goto(f"{e2e_server}/login/?next=/t/{slug}/dashboard/")
    page.fill("#id_username", f"owner@{slug}.test")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{e2e_server}/t/{slug}/dashboard/")
    assert page.locator(".chart .day").count() == 30
    assert page.locator(".chart .seg.error").count() > 0
    assert f"({month_of_calls:,})" in page.inner_text("h2:has-text('Tool calls')")
    assert page.locator(".grid.three .list").first.locator("li").count() == 3
    assert page.inner_text("#fig-listings") == "90"
    assert int(page.inner_text("#fig-saved-percent").rstrip("%")) >= 80
    assert page.inner_text("#fig-provider") != "— / —"
    shoot(page, "16-overview-month")
    page.goto(f"{e2e_server}/t/{slug}/dashboard/audit/?outcome=error")
    shoot(page, "17-audit-errors")
