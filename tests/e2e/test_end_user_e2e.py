"""In Chromium: an admin ends one end user from the connected-accounts page; every server's
session tokens of theirs stop working at once, and the page says how many were revoked."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def minted(live_tenant, django_db_blocker) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """(who, MCP path, secret) for two end users on two servers; made before the browser
    starts (Playwright's sync API runs an event loop, where the ORM refuses to run)."""
    with django_db_blocker.unblock():
        return _provision(live_tenant)


def _provision(tenant) -> list[tuple[str, str, str]]:  # noqa: ANN001
    from accounts.services.sessions import session_token_mint
    from configs.services.connections import connection_create
    from configs.services.mcp_configs import mcp_config_create

    minted = []
    with tenant_context(tenant):
        connection_create(
            name="demo", connector="demo", auth_type="none", settings={}, secrets=None, actor="t"
        )
        for name in ("support", "finance"):
            server = mcp_config_create(
                name=name, mappings=[{"connection_name": "demo", "tools": ["*"]}], actor="t"
            )
            for who in ("leaver@corp.test", "stayer@corp.test"):
                token = session_token_mint(
                    config=server, identifier=who, expiry_seconds=600, actor="t"
                )
                minted.append((who, f"/t/{tenant.slug}/mcp/{server.pk}", token.secret))
    return minted


def _lists_tools(base: str, path: str, secret: str) -> int:
    from tests.gateway.test_mcp_support import modern_post

    return modern_post(f"{base}{path}", secret, "tools/list").status_code


def test_admin_ends_a_user_everywhere_from_the_accounts_page(
    minted, e2e_server, live_tenant, browser_page
):
    base, page, slug = e2e_server, browser_page, live_tenant.slug
    page.goto(f"{base}/login/")
    page.fill("#id_username", f"owner@{slug}.test")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/t/{slug}/dashboard/")

    page.goto(f"{base}/t/{slug}/dashboard/accounts/")
    assert page.locator("#end-user h2").inner_text() == "End a user"
    page.fill("#end-identifier", "leaver@corp.test")
    page.click("#end-user-button")
    page.wait_for_selector("#confirm")
    assert "End leaver@corp.test on every server" in page.locator("main").inner_text()
    page.click("#confirm")
    page.wait_for_url(f"{base}/t/{slug}/dashboard/accounts/")
    assert page.get_by_text(
        "leaver@corp.test ended: 2 token(s) on 2 server(s) and 0 connected account(s) revoked."
    ).is_visible()

    statuses = [(who, _lists_tools(base, path, secret)) for who, path, secret in minted]
    assert sorted(statuses) == [
        ("leaver@corp.test", 401),
        ("leaver@corp.test", 401),
        ("stayer@corp.test", 200),
        ("stayer@corp.test", 200),
    ]
