"""Ready-to-paste client code for a virtual server: mint a token, then connect with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from dashboard.examples import example_arguments, python_literal

MINT = """VMCP_API_KEY = os.environ["VMCP_API_KEY"]  # Settings → API keys; keep it on your backend

# 1. Before each agent run, mint a short-lived token bound to the end user it acts for.
minted = httpx.post(
    "{mint_url}",
    headers={{"Authorization": f"Bearer {{VMCP_API_KEY}}"}},
    json={{"identifier": "user@example.com", "expiry": "3600s"}},
).raise_for_status().json()
MCP_URL, TOKEN = minted["mcp_server_url"], minted["token"]
"""

PYTHON_SDK = """# pip install mcp httpx
import asyncio
import os

import httpx
import httpx2  # the mcp SDK's HTTP client (installed with it)
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

{mint}

async def main() -> None:
    http = httpx2.AsyncClient(headers={{"Authorization": f"Bearer {{TOKEN}}"}})
    async with Client(streamable_http_client(MCP_URL, http_client=http)) as client:
        tools = await client.list_tools()
        print([tool.name for tool in tools.tools])
        result = await client.call_tool("{tool}", {arguments})
        print(result.content)


asyncio.run(main())
"""

LANGCHAIN = """# pip install langchain-mcp-adapters langgraph httpx
import asyncio
import os

import httpx
from langchain_mcp_adapters.client import MultiServerMCPClient
from langgraph.prebuilt import create_react_agent

{mint}

async def main() -> None:
    client = MultiServerMCPClient(
        {{
            "{name}": {{
                "transport": "streamable_http",
                "url": MCP_URL,
                "headers": {{"Authorization": f"Bearer {{TOKEN}}"}},
            }}
        }}
    )
    tools = await client.get_tools()
    agent = create_react_agent("openai:gpt-4.1", tools)
    print(await agent.ainvoke({{"messages": "What can you do for me?"}}))


asyncio.run(main())
"""

OPENAI_AGENTS = """# pip install openai-agents httpx
import asyncio
import os

import httpx
from agents import Agent, Runner
from agents.mcp import MCPServerStreamableHttp

{mint}

async def main() -> None:
    async with MCPServerStreamableHttp(
        name="{name}",
        params={{"url": MCP_URL, "headers": {{"Authorization": f"Bearer {{TOKEN}}"}}}},
        cache_tools_list=True,
    ) as server:
        agent = Agent(name="assistant", instructions="Use the tools.", mcp_servers=[server])
        result = await Runner.run(agent, "What can you do for me?")
        print(result.final_output)


asyncio.run(main())
"""

CURL = """# Mint a token (your backend), then any MCP client can use MCP_URL with it.
curl -s -X POST "{mint_url}" \\
  -H "Authorization: Bearer $VMCP_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{{"identifier": "user@example.com", "expiry": "3600s"}}'
"""


@dataclass(frozen=True)
class Snippet:
    key: str
    title: str
    code: str


def server_snippets(
    *,
    tenant_slug: str,
    config_id: str,
    name: str,
    tool: str,
    input_schema: dict[str, Any] | None = None,
) -> list[Snippet]:
    """The snippets for one server; the sample call fills the tool's required arguments."""
    mint_url = f"{settings.PUBLIC_BASE_URL}/t/{tenant_slug}/api/v1/mcp/configs/{config_id}/tokens"
    mint = MINT.format(mint_url=mint_url)
    arguments = python_literal(example_arguments(input_schema))
    return [
        Snippet(
            "python",
            "Python (mcp SDK)",
            PYTHON_SDK.format(mint=mint, tool=tool, arguments=arguments),
        ),
        Snippet("langchain", "LangChain MCP adapters", LANGCHAIN.format(mint=mint, name=name)),
        Snippet("openai", "OpenAI Agents SDK", OPENAI_AGENTS.format(mint=mint, name=name)),
        Snippet("curl", "Mint with curl", CURL.format(mint_url=mint_url)),
    ]
