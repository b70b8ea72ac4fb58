"""The upstream MCP server the conformance run proxies: the suite's fixture tools.

Written with the official ``mcp`` SDK. The virtual server under test exposes every tool of
this server through an ``mcp`` connection, so the suite's ``tools-call-*`` scenarios exercise
the whole path: scope check, execution, the upstream call, and content passed through.

    python conformance/upstream_server.py --port 8765   # serves http://127.0.0.1:8765/mcp

The suite's diagnostic hook ``test_trigger_tool_change`` ("mutate the tool list") is what a
tool-list change looks like through a virtual server: this upstream adds (or removes) a tool,
then asks the platform to re-sync the connection, as an admin or an automation would
(``POST …/connections/<name>/sync`` with a tenant API key, from ``VMCP_CONFORMANCE_SYNC_URL`` and
``VMCP_CONFORMANCE_API_KEY``). The platform stores the new list and notifies the virtual
server's listeners with ``notifications/tools/list_changed``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import struct
import wave

import httpx
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    Completion,
    CompletionArgument,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)

try:  # imported as conformance.upstream_server (tests) or run as a script (conformance/run.py)
    from conformance.relay_tools import add_relay_prompts, add_relay_tools
except ImportError:  # pragma: no cover - the script's own directory is on sys.path
    from relay_tools import add_relay_prompts, add_relay_tools  # type: ignore[no-redef]

# 1x1 red PNG.
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)


def _wav() -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack("<80h", *([0] * 80)))
    return base64.b64encode(buffer.getvalue()).decode()


SIMPLE_PROMPT = "This is a simple prompt for testing."
EXTRA_TOOL = "test_added_tool"
# The suite's JSON Schema 2020-12 fixture (SEP-1613, SEP-2106): the listing must keep every
# keyword, through the platform's sync and its tools/list, exactly as the upstream wrote it.
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def _extra_tool() -> str:
    return "added"


def build_server() -> MCPServer:
    server: MCPServer = MCPServer(name="conformance-upstream", version="1.0.0")
    extra_tool_added: list[bool] = []  # non-empty while EXTRA_TOOL is listed

    @server.tool(description="Returns a simple text response.")
    def test_simple_text() -> list[TextContent]:
        return [TextContent(type="text", text="This is a simple text response for testing.")]

    @server.tool(description="Returns a 1x1 PNG image.")
    def test_image_content() -> list[ImageContent]:
        return [ImageContent(type="image", data=PNG_1X1, mime_type="image/png")]

    @server.tool(description="Returns a short WAV clip.")
    def test_audio_content() -> list[AudioContent]:
        return [AudioContent(type="audio", data=_wav(), mime_type="audio/wav")]

    @server.tool(description="Returns an embedded text resource.")
    def test_embedded_resource() -> list[EmbeddedResource]:
        return [
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri="test://embedded-resource",
                    mime_type="text/plain",
                    text="This is an embedded resource content.",
                ),
            )
        ]

    @server.tool(description="Returns text, an image and an embedded resource.")
    def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
        return [
            TextContent(type="text", text="Multiple content types test:"),
            ImageContent(type="image", data=PNG_1X1, mime_type="image/png"),
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri="test://mixed-content-resource",
                    mime_type="application/json",
                    text='{"test":"data","value":123}',
                ),
            ),
        ]

    @server.tool(description="Sends three info log messages while it runs.")
    async def test_tool_with_logging(ctx: Context) -> str:
        await ctx.info("Tool execution started")
        await asyncio.sleep(0.05)
        await ctx.info("Tool processing data")
        await asyncio.sleep(0.05)
        await ctx.info("Tool execution completed")
        return "Tool with logging executed successfully"

    @server.tool(description="Logs one message (only when the client asked for logs).")
    async def test_logging_tool(ctx: Context) -> str:
        await ctx.info("test_logging_tool ran")
        return "logged"

    @server.tool(description="Always fails.")
    def test_error_handling() -> str:
        raise ToolError("This tool intentionally returns an error for testing")

    @server.tool(description="Reports progress 0/100, 50/100, 100/100.")
    async def test_tool_with_progress(ctx: Context) -> str:
        for value in (0, 50, 100):
            await ctx.report_progress(value, 100)
            await asyncio.sleep(0.05)
        return "Progress tool completed"

    @server.tool(description="Needs the client's sampling capability (diagnostic).")
    async def test_missing_capability(ctx: Context) -> str:
        # The gateway's upstream client declares no sampling (it relays no server→client
        # requests), so this always answers MissingRequiredClientCapability (-32021).
        raise MCPError(
            MISSING_REQUIRED_CLIENT_CAPABILITY,
            "This tool requires the client's sampling capability",
            {"requiredCapabilities": {"sampling": {}}},
        )

    def json_schema_2020_12_tool(**arguments: object) -> str:
        return "ok"

    server.add_tool(
        json_schema_2020_12_tool,
        name="json_schema_2020_12_tool",
        description="Tool with JSON Schema 2020-12 features",
    )
    # Listed with the fixture's schema verbatim (the SDK would derive one from the signature).
    server._tool_manager.get_tool("json_schema_2020_12_tool").parameters = JSON_SCHEMA_2020_12

    @server.tool(description="Changes this server's tool list and has the platform re-sync it.")
    async def test_trigger_tool_change() -> str:
        # Toggle one extra tool so every trigger is a change, and the list stays bounded.
        if extra_tool_added:
            server.remove_tool(EXTRA_TOOL)
        else:
            server.add_tool(_extra_tool, name=EXTRA_TOOL, description="Added by a trigger.")
        extra_tool_added[:] = [] if extra_tool_added else [True]
        sync_url = os.environ.get("VMCP_CONFORMANCE_SYNC_URL")
        api_key = os.environ.get("VMCP_CONFORMANCE_API_KEY")
        if not sync_url or not api_key:
            return "tool list changed (no platform to re-sync)"
        async with httpx.AsyncClient(timeout=20) as client:
            response = await client.post(sync_url, headers={"Authorization": f"Bearer {api_key}"})
        if response.status_code != 200:
            raise ToolError(f"the platform's re-sync answered HTTP {response.status_code}")
        return "tool list changed"

    @server.tool(description="Asks the client for input mid-call (diagnostic).")
    async def test_streaming_elicitation(ctx: Context) -> str:
        raise ToolError("This tool needs elicitation, which this server cannot ask for here")

    add_relay_tools(server)
    add_relay_prompts(server)
    add_fixture_resources_and_prompts(server)
    return server


def add_fixture_resources_and_prompts(server: MCPServer) -> None:
    """The suite's fixture resources, resource template, prompts and completion.

    What ``resources-*``, ``prompts-get-*`` and ``completion-complete`` read through the virtual
    server (which exposes them all with ``"*"`` mappings); the texts are the suite's own.
    """

    @server.resource(
        "test://static-text",
        name="static-text",
        description="A static text resource.",
        mime_type="text/plain",
    )
    def static_text() -> str:
        return "This is the content of the static text resource."

    @server.resource(
        "test://static-binary",
        name="static-binary",
        description="A static binary resource (a 1x1 PNG).",
        mime_type="image/png",
    )
    def static_binary() -> bytes:
        return base64.b64decode(PNG_1X1)

    @server.resource(
        "test://watched-resource",
        name="watched-resource",
        description="A resource clients may subscribe to.",
        mime_type="text/plain",
    )
    def watched_resource() -> str:
        return "Watched resource content."

    @server.resource(
        "test://template/{id}/data",
        name="template-data",
        description="Data for one id (a resource template).",
        mime_type="application/json",
    )
    def template_data(id: str) -> str:  # noqa: A002 - the template's own variable name
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})

    @server.prompt(name="test_simple_prompt", description="A simple prompt without arguments.")
    def test_simple_prompt() -> list[UserMessage]:
        return [UserMessage(content=TextContent(type="text", text=SIMPLE_PROMPT))]

    @server.prompt(name="test_prompt_with_arguments", description="A prompt with two arguments.")
    def test_prompt_with_arguments(arg1: str, arg2: str) -> list[UserMessage]:
        text = f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
        return [UserMessage(content=TextContent(type="text", text=text))]

    @server.prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt that embeds a resource.",
    )
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # noqa: N803
        resource = TextResourceContents(
            uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        return [
            UserMessage(content=EmbeddedResource(type="resource", resource=resource)),
            UserMessage(
                content=TextContent(type="text", text="Please process the embedded resource above.")
            ),
        ]

    @server.prompt(name="test_prompt_with_image", description="A prompt with an image.")
    def test_prompt_with_image() -> list[UserMessage]:
        return [
            UserMessage(content=ImageContent(type="image", data=PNG_1X1, mime_type="image/png")),
            UserMessage(content=TextContent(type="text", text="Please analyze the image above.")),
        ]

    @server.completion()
    async def complete(ref: object, argument: CompletionArgument, context: object) -> Completion:
        options = ["paris", "park", "party", "test", "testValue1"]
        matches = [option for option in options if option.startswith(argument.value)]
        return Completion(values=matches, total=len(matches), has_more=False)

    # The suite only checks that subscribing and unsubscribing answer {}; a real server would
    # send notifications/resources/updated to the subscribed sessions.
    async def on_subscribe(ctx: object, params: object) -> EmptyResult:
        return EmptyResult()

    server._lowlevel_server.add_request_handler(  # noqa: SLF001 - MCPServer has no decorator
        "resources/subscribe", SubscribeRequestParams, on_subscribe
    )
    server._lowlevel_server.add_request_handler(  # noqa: SLF001
        "resources/unsubscribe", UnsubscribeRequestParams, on_subscribe
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    app = build_server().streamable_http_app(json_response=False, stateless_http=False)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
