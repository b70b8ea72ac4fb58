"""Interactive clients sign users in: the mcp SDK's OAuth client against vmcp's authorization
server, with a real OpenID provider (oidc-provider) as the tenant's identity source."""

from __future__ import annotations

import re
import time

import httpx
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context

from audit.models import AuditEvent
from tests.gateway.test_mcp_support import modern_post

from .clients import REDIRECT_URI, SignedInClient


def cimd_document(live, path: str) -> str:  # noqa: ANN001
    url = live.documents.url(path)
    live.documents.documents[path] = {
        "client_id": url,
        "client_name": "CIMD test client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }
    return url


async def test_dcr_client_signs_alice_in_and_lists_only_the_servers_tools(oauth_live):
    alice = SignedInClient(url=oauth_live.mcp_url("acme/summarizer"), login="alice")
    async with alice.session() as session:
        tools = (await session.list_tools()).tools
        assert [t.name for t in tools] == ["echo", "demo_add"]
        called = await session.call_tool("demo_add", {"a": 2, "b": 3})
        assert called.structured_content == {"sum": 5}
    # Registered by DCR (no CIMD URL given), signed in at the IdP, consent shown.
    assert alice.storage.client_info.client_id.startswith("vmcp_dcr_")
    assert "summarizer" in alice.browser.consent_html and "demo_add" in alice.browser.consent_html
    assert "echo" in alice.browser.consent_html
    # Where the code goes, marked unverified: a DCR client names itself.
    html = alice.browser.consent_html
    assert '<b id="redirect-host">127.0.0.1:33418</b>' in html
    assert '<span class="badge warn" id="redirect-trust">unverified</span>' in html
    assert alice.redirects[0]["iss"] == oauth_live.issuer("acme")
    token = alice.storage.tokens
    assert token.access_token.startswith("vmcp_st_") and token.refresh_token.startswith("vmcp_rt_")

    def audited() -> list[tuple[str, str]]:
        with tenant_context(oauth_live.tenants["acme"]):
            return list(
                AuditEvent.objects.filter(event_type="tool.called").values_list(
                    "identifier", "tool_name"
                )
            )

    assert ("alice@example.test", "demo_add") in await sync_to_async(audited)()


async def test_cimd_client_two_users_get_two_identities_and_refresh_rotates(oauth_live):
    url = cimd_document(oauth_live, "/clients/desktop.json")
    seen = {}
    for login in ("bob", "dave"):
        person = SignedInClient(
            url=oauth_live.mcp_url("acme/summarizer"), login=login, cimd_url=url
        )
        async with person.session() as session:
            echoed = await session.call_tool("echo", {"text": f"hi {login}"})
            assert echoed.content[0].text == f"hi {login}"
        assert person.storage.client_info.client_id == url
        # The CIMD host vouches for the redirect URI it lists.
        html = person.browser.consent_html
        assert '<b id="redirect-host">127.0.0.1:33418</b>' in html
        host = url.split("//", 1)[1].split("/", 1)[0]
        assert f'id="redirect-trust">listed by {host}</span>' in html
        seen[login] = person

    def identities() -> dict[str, str]:
        from configs.models import SessionToken
        from vmcp_platform.tokens import hash_token

        with tenant_context(oauth_live.tenants["acme"]):
            return {
                login: SessionToken.objects.get(
                    token_hash=hash_token(p.storage.tokens.access_token)
                ).identifier
                for login, p in seen.items()
            }

    assert await sync_to_async(identities)() == {
        "bob": "bob@example.test",
        "dave": "dave@example.test",
    }

    # Refresh: the SDK refreshes an expired token by itself, with a rotated refresh token.
    bob = seen["bob"]
    old = bob.storage.tokens
    bob.provider.context.token_expiry_time = time.time() - 1
    async with bob.session() as session:
        assert [t.name for t in (await session.list_tools()).tools] == ["echo", "demo_add"]
    new = bob.storage.tokens
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    assert len(bob.redirects) == 1  # no second sign-in

    # Replaying the spent refresh token is refused and revokes the family.
    replay = httpx.post(
        f"{oauth_live.issuer('acme')}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": old.refresh_token,
            "client_id": url,
        },
    )
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    mcp = oauth_live.mcp_url("acme/summarizer")
    assert modern_post(mcp, new.access_token, "tools/list").status_code == 401
    reuse_new = httpx.post(
        f"{oauth_live.issuer('acme')}/token",
        data={"grant_type": "refresh_token", "refresh_token": new.refresh_token, "client_id": url},
    )
    assert reuse_new.json()["error"] == "invalid_grant"
    # The other user's grant is untouched.
    assert (
        modern_post(mcp, seen["dave"].storage.tokens.access_token, "tools/list").status_code == 200
    )


async def test_revoke_then_401_and_token_never_works_on_another_server_or_tenant(oauth_live):
    carol = SignedInClient(url=oauth_live.mcp_url("acme/summarizer"), login="carol")
    # The session-based 2025-11-25 wire this time (the other tests use 2026-07-28).
    async with carol.session(mode="legacy") as session:
        assert session.protocol_version == "2025-11-25"
        assert [t.name for t in (await session.list_tools()).tools] == ["echo", "demo_add"]
    access = carol.storage.tokens.access_token
    assert (
        modern_post(oauth_live.mcp_url("acme/summarizer"), access, "tools/list").status_code == 200
    )
    assert modern_post(oauth_live.mcp_url("acme/other"), access, "tools/list").status_code == 401
    globex = oauth_live.mcp_url("globex/summarizer").replace(
        oauth_live.configs["globex/summarizer"], oauth_live.configs["acme/summarizer"]
    )
    assert modern_post(globex, access, "tools/list").status_code in (401, 404)
    assert (
        modern_post(oauth_live.mcp_url("globex/summarizer"), access, "tools/list").status_code
        == 401
    )

    revoked = httpx.post(
        f"{oauth_live.issuer('acme')}/revoke",
        data={
            "token": carol.storage.tokens.refresh_token,
            "client_id": carol.storage.client_info.client_id,
        },
    )
    assert revoked.status_code == 200
    assert (
        modern_post(oauth_live.mcp_url("acme/summarizer"), access, "tools/list").status_code == 401
    )


async def test_consent_offers_the_missing_connect_link_and_the_call_acts_as_that_user(oauth_live):
    from .support import connect_links, connect_with_api_key

    shown: dict[str, str] = {}

    async def connect_first(browser, consent_url: str, html: str) -> None:  # noqa: ANN001
        shown["before"] = html
        links = connect_links(html)
        assert list(links) == ["remote"]
        # Allowing now is refused: the server needs an account the user has not connected.
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]
        early = await browser.http.post(
            consent_url,
            data={"csrfmiddlewaretoken": csrf, "decision": "approve"},
            headers={"Referer": consent_url},
        )
        assert early.status_code == 409 and "Connect the accounts" in early.text
        await connect_with_api_key(browser, links["remote"], "key-of-ivy")
        shown["after"] = (await browser.http.get(consent_url)).text

    ivy = SignedInClient(url=oauth_live.mcp_url("acme/personal"), login="ivy")
    ivy.browser.before_consent = connect_first
    async with ivy.session() as session:
        assert [t.name for t in (await session.list_tools()).tools] == ["whoami"]
        result = await session.call_tool("whoami", {})
        assert result.structured_content["user"] == "key-of-ivy"
    assert 'id="approve" disabled' in shown["before"] and "whoami" in shown["before"]
    assert 'id="approve" disabled' not in shown["after"] and not connect_links(shown["after"])


def test_the_401_names_the_metadata_and_the_scope(oauth_live):
    mcp = oauth_live.mcp_url("acme/summarizer")
    for token in (None, "vmcp_st_not-a-real-token"):
        refused = modern_post(mcp, token, "tools/list")
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith(
            f'Bearer resource_metadata="{oauth_live.base_url}/.well-known/oauth-protected-resource'
            f'/t/oa-acme/mcp/{oauth_live.configs["acme/summarizer"]}"'
        )
        assert 'scope="mcp:tools"' in challenge
    prm = httpx.get(challenge.split('"')[1]).json()
    assert prm["authorization_servers"] == [oauth_live.issuer("acme")]
