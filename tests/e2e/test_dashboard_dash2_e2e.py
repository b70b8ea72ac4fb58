"""What a person sees, in Chromium: the builder's tool search, the dashboard at phone width,
the playground running a tool, and the overview's figures from the real tools/list traffic.
Screenshots land in test-artifacts/screenshots/ (scripts/readme_screenshots.py copies the
README's into docs/screenshots/)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def furnished_live(live_tenant, django_db_blocker):  # noqa: ANN001, ANN201
    """A demo connection and a Gmail one (no network needed to build or list), one server."""
    from django_tenants.utils import tenant_context

    from configs.models import Connection
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create

    with django_db_blocker.unblock(), tenant_context(live_tenant):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        Connection.objects.create(
            name="gmail", connector="gmail", auth_type="oauth2", settings={"client_id": "c"}
        )
        server = mcp_config_create(
            name="calculator",
            description="Adds numbers for the e2e tests.",
            mappings=[{"connection_name": "demo", "tools": ["demo_add", "demo_echo"]}],
            actor="t",
        )
    return server


def sign_in(page, base: str, slug: str, next_path: str = "") -> None:  # noqa: ANN001
    page.goto(f"{base}/login/?next={next_path or f'/t/{slug}/dashboard/'}")
    page.fill("#id_username", f"owner@{slug}.test")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(rf"{re.escape(base)}/t/{slug}/dashboard/"))


def list_tools(url: str, token: str) -> list[str]:
    async def run() -> list[str]:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return [tool.name for tool in (await client.list_tools()).tools]

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=60)


def test_builder_tool_search_hides_rows_that_do_not_match(
    e2e_server, live_tenant, furnished_live, browser_page, shoot
):
    page, slug = browser_page, live_tenant.slug
    sign_in(page, e2e_server, slug)
    page.goto(f"{e2e_server}/t/{slug}/dashboard/servers/new/")
    rows = page.locator(".tool-row")
    total = rows.count()
    assert total > 10 and page.locator(".tool-row:visible").count() == total
    expected = [
        name
        for name, text in (
            (r.get_attribute("id") or "", r.get_attribute("data-search")) for r in rows.all()
        )
        if "draft" in text
    ]
    assert 0 < len(expected) < total
    page.fill("#tool-search", "draft")
    page.wait_for_function(
        f"document.querySelectorAll('.tool-row:not([hidden])').length === {len(expected)}"
    )
    # Visible to a person, not only flagged: the rows' own display no longer wins.
    assert page.locator(".tool-row:visible").count() == len(expected)
    assert page.inner_text("#tool-search-count") == f"{len(expected)} of {total} tools match"
    assert not page.locator("#panel-demo .tools").is_visible()  # no demo tool drafts anything
    shoot(page, "20-builder-tool-search")
    page.fill("#tool-search", "")
    page.wait_for_function(
        f"document.querySelectorAll('.tool-row:not([hidden])').length === {total}"
    )
    assert page.locator(".tool-row:visible").count() == total
    assert not page.locator("#tool-search-count").is_visible()


def test_at_phone_width_every_page_fits_and_the_menu_works(
    e2e_server, live_tenant, furnished_live, browser_page, shoot
):
    page, slug = browser_page, live_tenant.slug
    dashboard = f"{e2e_server}/t/{slug}/dashboard"
    page.set_viewport_size(PHONE)
    sign_in(page, e2e_server, slug)
    pages = [
        "/",
        "/connectors/",
        "/connections/",
        "/connections/gmail/",
        "/connections/new/?connector=gmail",
        "/servers/",
        "/servers/new/",
        f"/servers/{furnished_live.pk}/",
        f"/servers/{furnished_live.pk}/activity/",
        f"/servers/{furnished_live.pk}/playground/?identifier=dave%40e2e.test",
        "/accounts/",
        "/accounts/link/",
        "/tokens/",
        "/audit/",
        "/settings/",
        "/settings/members/",
    ]
    for path in pages:
        page.goto(dashboard + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
        assert page.locator("#menu-button").is_visible(), path
        assert not page.locator("#sidebar").is_visible(), path
    page.goto(f"{dashboard}/servers/{furnished_live.pk}/")
    shoot(page, "21-phone-server")
    page.click("#menu-button")
    assert page.locator("#sidebar").is_visible()
    assert page.get_attribute("#menu-button", "aria-expanded") == "true"
    shoot(page, "22-phone-menu")
    page.locator("#sidebar").get_by_text("Audit log").click()
    page.wait_for_url(f"{dashboard}/audit/")
    assert page.locator("h1").inner_text() == "Audit log"
    assert not page.locator("#sidebar").is_visible()
    # Escape closes an open menu too.
    page.click("#menu-button")
    page.keyboard.press("Escape")
    assert not page.locator("#sidebar").is_visible()
    # Wide screens keep the sidebar and need no button.
    page.set_viewport_size({"width": 1360, "height": 900})
    assert page.locator("#sidebar").is_visible() and not page.locator("#menu-button").is_visible()


def test_playground_runs_a_tool_and_the_overview_counts_the_agents_listing(
    e2e_server, live_tenant, furnished_live, browser_page, shoot
):
    page, slug = browser_page, live_tenant.slug
    dashboard = f"{e2e_server}/t/{slug}/dashboard"
    sign_in(page, e2e_server, slug)
    page.goto(f"{dashboard}/servers/{furnished_live.pk}/")
    page.click("#server-playground")
    page.fill("#id_identifier", "dave@e2e.test")
    page.click("#check-user")
    assert page.inner_text("#ready-badge") == "ready"
    assert page.locator(".pg-tool").count() == 2
    page.click("#try-demo_add")
    page.fill("#id_arg_a", "2")
    page.fill("#id_arg_b", "40")
    page.click("#run-tool")
    page.wait_for_selector("#run-result")
    assert page.locator("#run-result .badge").inner_text() == "ok"
    assert page.inner_text("#run-output") == '{"sum": 42}'
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top of the shot
    shoot(page, "23-playground")

    # The audit shows the call as made by this admin for dave.
    page.click("#run-audit")
    row = page.locator("table.audit tbody tr")
    assert row.count() == 1 and "dave@e2e.test" in row.inner_text()
    assert row.locator("td[title^='user:']").get_attribute("title") == f"user:owner@{slug}.test"

    # A test token from the playground; an agent lists the tools with it.
    page.go_back()
    page.goto(f"{dashboard}/servers/{furnished_live.pk}/playground/?identifier=dave%40e2e.test")
    page.click("#mint-token")
    token = page.input_value("#minted-token")
    mcp_url = page.input_value("#minted-url")
    assert token.startswith("vmcp_st_")
    assert sorted(list_tools(mcp_url, token)) == ["demo_add", "demo_echo"]

    # The overview counts that listing and what scoping saved on it; bars tell their values.
    page.goto(f"{dashboard}/?period=24h")
    assert page.inner_text("#fig-calls") == "1"
    assert page.inner_text("#fig-listings") == "1"
    saved = int(page.inner_text("#fig-saved-tokens").replace(",", ""))
    full = int(page.inner_text("#fig-full-tokens").replace(",", ""))
    assert 0 < saved < full
    last_bar = page.locator(".chart .day").last
    assert not last_bar.locator(".tip").is_visible()
    last_bar.hover()
    assert last_bar.locator(".tip").is_visible()
    assert "1 call" in last_bar.locator(".tip").inner_text()
    shoot(page, "24-overview-figures")
