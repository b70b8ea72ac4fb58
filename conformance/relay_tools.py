"""The suite's fixture tools that ask the client something mid-call (sampling, elicitation,
roots), added to the conformance upstream by ``add_relay_tools``, and its one prompt that does
(``add_relay_prompts``).

Each tool speaks the era of the connection it is called on, as a real server does:

* 2025-11-25 and earlier: a standalone server-to-client request sent on the call's own SSE
  stream (``related_request_id``), answered before the tool returns;
* 2026-07-28: an ``InputRequiredResult`` (multi-round-trip requests, SEP-2322) naming what it
  needs; the client retries with ``inputResponses`` (and the echoed ``requestState``, which the
  SDK's ``RequestStateBoundary`` seals and verifies, so the tool only sees state it minted).

vmcp sits between the suite and this server, so these tools are what proves the relay: the
suite's client answers vmcp, and vmcp answers this server.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    CallToolResult,
    CreateMessageRequest,
    CreateMessageResult,
    ElicitRequest,
    ElicitResult,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    TextContent,
)

MODERN_VERSIONS = ("2026-07-28",)

_REQUEST_TYPES: dict[str, tuple[Any, Any]] = {
    "sampling/createMessage": (CreateMessageRequest, CreateMessageResult),
    "elicitation/create": (ElicitRequest, ElicitResult),
    "roots/list": (ListRootsRequest, ListRootsResult),
}


def _modern(ctx: Context) -> bool:
    return ctx.protocol_version in MODERN_VERSIONS


def _dump(value: Any) -> dict[str, Any]:
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dict(value)


async def ask(
    ctx: Context, requests: dict[str, tuple[str, dict[str, Any]]], state: str | None = None
) -> dict[str, dict[str, Any]] | InputRequiredResult:
    """The client's answers to ``requests`` (key → (method, params)), in either era.

    On the 2026-07-28 wire the answers already given arrive in ``ctx.input_responses``; an
    ``InputRequiredResult`` re-asks what is still missing (wrong or absent keys are simply
    asked again, never an error). On the handshake wire each request is sent now. A client
    that did not declare what a request needs gets -32021 (MissingRequiredClientCapability).
    """
    _require_capabilities(ctx, {method for method, _ in requests.values()})
    if _modern(ctx):
        given = {key: _dump(value) for key, value in (ctx.input_responses or {}).items()}
        missing = {key: spec for key, spec in requests.items() if key not in given}
        if missing:
            return InputRequiredResult(
                input_requests={
                    key: _REQUEST_TYPES[method][0].model_validate(
                        {"method": method, "params": params}
                    )
                    for key, (method, params) in missing.items()
                },
                request_state=state,
            )
        return {key: given[key] for key in requests}
    answers: dict[str, dict[str, Any]] = {}
    for key, (method, params) in requests.items():
        request_type, result_type = _REQUEST_TYPES[method]
        request = request_type.model_validate({"method": method, "params": params or None})
        result = await ctx.session.send_request(
            request,
            result_type,
            metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
        )
        answers[key] = _dump(result)
    return answers


_CAPABILITY_OF = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


def _require_capabilities(ctx: Context, methods: set[str]) -> None:
    declared = ctx.client_capabilities
    missing = sorted(
        {
            _CAPABILITY_OF[method]
            for method in methods
            if declared is None or getattr(declared, _CAPABILITY_OF[method]) is None
        }
    )
    if missing:
        raise MCPError(
            MISSING_REQUIRED_CLIENT_CAPABILITY,
            f"This tool requires the client's {' and '.join(missing)} capability",
            {"requiredCapabilities": {name: {} for name in missing}},
        )


def _text(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)])


def _elicit(message: str, properties: dict[str, Any], required: list[str]) -> tuple[str, dict]:
    schema = {"type": "object", "properties": properties, "required": required}
    return ("elicitation/create", {"message": message, "requestedSchema": schema})


def _sample(text: str, max_tokens: int) -> tuple[str, dict]:
    messages = [{"role": "user", "content": {"type": "text", "text": text}}]
    return ("sampling/createMessage", {"messages": messages, "maxTokens": max_tokens})


ROOTS = ("roots/list", {})

SEP1034_SCHEMA = {
    "name": {"type": "string", "description": "User name", "default": "John Doe"},
    "age": {"type": "integer", "description": "User age", "default": 30},
    "score": {"type": "number", "description": "User score", "default": 95.5},
    "status": {
        "type": "string",
        "description": "User status",
        "enum": ["active", "inactive", "pending"],
        "default": "active",
    },
    "verified": {"type": "boolean", "description": "Verification status", "default": True},
}

SEP1330_SCHEMA = {
    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
    "titledSingle": {
        "type": "string",
        "oneOf": [
            {"const": "value1", "title": "First Option"},
            {"const": "value2", "title": "Second Option"},
            {"const": "value3", "title": "Third Option"},
        ],
    },
    "legacyEnum": {
        "type": "string",
        "enum": ["opt1", "opt2", "opt3"],
        "enumNames": ["Option One", "Option Two", "Option Three"],
    },
    "untitledMulti": {
        "type": "array",
        "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
    },
    "titledMulti": {
        "type": "array",
        "items": {
            "anyOf": [
                {"const": "value1", "title": "First Choice"},
                {"const": "value2", "title": "Second Choice"},
                {"const": "value3", "title": "Third Choice"},
            ]
        },
    },
}


def _sampled_text(answer: dict[str, Any]) -> str:
    content = answer.get("content")
    if isinstance(content, list):
        content = content[0] if content else {}
    return str((content or {}).get("text", ""))


def add_relay_tools(server: MCPServer) -> None:  # noqa: C901 - one small closure per fixture
    # ---------------------------------------------------------------- the 2025-11-25 scenarios

    @server.tool(description="Asks the client's LLM (sampling/createMessage) for the prompt.")
    async def test_sampling(prompt: str, ctx: Context) -> CallToolResult | InputRequiredResult:
        answers = await ask(ctx, {"sample": _sample(prompt, 100)})
        if isinstance(answers, InputRequiredResult):
            return answers
        return _text(f"LLM response: {_sampled_text(answers['sample'])}")

    @server.tool(description="Asks the user (elicitation/create) for a username and email.")
    async def test_elicitation(message: str, ctx: Context) -> CallToolResult | InputRequiredResult:
        properties = {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        }
        answers = await ask(ctx, {"form": _elicit(message, properties, ["username", "email"])})
        if isinstance(answers, InputRequiredResult):
            return answers
        answer = answers["form"]
        return _text(
            f"User response: action={answer.get('action')}, "
            f"content={json.dumps(answer.get('content') or {})}"
        )

    async def _completed(ctx: Context, message: str, properties: dict) -> Any:
        answers = await ask(ctx, {"form": _elicit(message, properties, [])})
        if isinstance(answers, InputRequiredResult):
            return answers
        answer = answers["form"]
        return _text(
            f"Elicitation completed: action={answer.get('action')}, "
            f"content={json.dumps(answer.get('content') or {})}"
        )

    @server.tool(description="Elicitation with a default for every primitive type (SEP-1034).")
    async def test_elicitation_sep1034_defaults(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        return await _completed(
            ctx, "Please review and update the form fields with defaults", SEP1034_SCHEMA
        )

    @server.tool(description="Elicitation with the five enum schema variants (SEP-1330).")
    async def test_elicitation_sep1330_enums(ctx: Context) -> CallToolResult | InputRequiredResult:
        return await _completed(ctx, "Please select options from the enum fields", SEP1330_SCHEMA)

    @server.tool(description="Asks the user to open a URL (URL-mode elicitation).")
    async def test_url_elicitation(url: str, ctx: Context) -> CallToolResult | InputRequiredResult:
        params = {
            "mode": "url",
            "message": "Please authorize in your browser",
            "url": url,
            "elicitationId": "conformance-url-1",
        }
        answers = await ask(ctx, {"url": ("elicitation/create", params)})
        if isinstance(answers, InputRequiredResult):
            return answers
        return _text(f"URL elicitation: action={answers['url'].get('action')}")

    @server.tool(description="Asks the client for its roots (roots/list).")
    async def test_list_roots(ctx: Context) -> CallToolResult | InputRequiredResult:
        answers = await ask(ctx, {"roots": ROOTS})
        if isinstance(answers, InputRequiredResult):
            return answers
        uris = [root.get("uri") for root in answers["roots"].get("roots", [])]
        return _text(f"Roots: {json.dumps(uris)}")

    # ---------------------------------------------------------------- 2026-07-28 (SEP-2322)

    name_form = _elicit("What is your name?", {"name": {"type": "string"}}, ["name"])

    @server.tool(description="MRTR: one elicitation, then a greeting.")
    async def test_input_required_result_elicitation(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        answers = await ask(ctx, {"user_name": name_form})
        if isinstance(answers, InputRequiredResult):
            return answers
        content = answers["user_name"].get("content") or {}
        return _text(f"Hello, {content.get('name', 'stranger')}!")

    @server.tool(description="MRTR: one sampling request, then its text.")
    async def test_input_required_result_sampling(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        answers = await ask(
            ctx, {"capital_question": _sample("What is the capital of France?", 100)}
        )
        if isinstance(answers, InputRequiredResult):
            return answers
        return _text(f"The model said: {_sampled_text(answers['capital_question'])}")

    @server.tool(description="MRTR: one roots/list request, then the roots.")
    async def test_input_required_result_list_roots(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        answers = await ask(ctx, {"client_roots": ROOTS})
        if isinstance(answers, InputRequiredResult):
            return answers
        uris = [root.get("uri") for root in answers["client_roots"].get("roots", [])]
        return _text(f"Client roots: {', '.join(str(uri) for uri in uris)}")

    @server.tool(description="MRTR: elicitation with requestState, validated on the retry.")
    async def test_input_required_result_request_state(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        form = _elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])
        answers = await ask(ctx, {"confirm": form}, state="confirm-round-1")
        if isinstance(answers, InputRequiredResult):
            return answers
        if ctx.request_state != "confirm-round-1":
            return CallToolResult(
                content=[TextContent(type="text", text="requestState missing")], is_error=True
            )
        return _text("state-ok: the requestState came back intact")

    @server.tool(description="MRTR: elicitation, sampling and roots in one round.")
    async def test_input_required_result_multiple_inputs(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        requests = {
            "user_name": name_form,
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": ROOTS,
        }
        answers = await ask(ctx, requests, state="multiple-round-1")
        if isinstance(answers, InputRequiredResult):
            return answers
        name = (answers["user_name"].get("content") or {}).get("name")
        return _text(f"Got all three: {name}, {_sampled_text(answers['greeting'])}")

    @server.tool(description="MRTR: two rounds of elicitation, the state evolving.")
    async def test_input_required_result_multi_round(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        if ctx.request_state == "round-2":
            color = _elicit(
                "Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"]
            )
            answers = await ask(ctx, {"step2": color}, state="round-2")
            if isinstance(answers, InputRequiredResult):
                return answers
            return _text(f"Done: {(answers['step2'].get('content') or {}).get('color')}")
        step1 = _elicit("Step 1: What is your name?", {"name": {"type": "string"}}, ["name"])
        answers = await ask(ctx, {"step1": step1}, state="round-1")
        if isinstance(answers, InputRequiredResult):
            return answers
        color = _elicit(
            "Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"]
        )
        if not _modern(ctx):  # the handshake era asks the second question straight away
            second = await ask(ctx, {"step2": color})
            assert not isinstance(second, InputRequiredResult)
            return _text(f"Done: {(second['step2'].get('content') or {}).get('color')}")
        return InputRequiredResult(
            input_requests={
                "step2": ElicitRequest.model_validate({"method": color[0], "params": color[1]})
            },
            request_state="round-2",
        )

    @server.tool(description="MRTR: integrity-protected requestState (tampering is refused).")
    async def test_input_required_result_tampered_state(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        form = _elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])
        answers = await ask(ctx, {"confirm": form}, state="tamper-round-1")
        if isinstance(answers, InputRequiredResult):
            return answers
        return _text("state verified")

    @server.tool(description="MRTR: asks only for what the client declared it can answer.")
    async def test_input_required_result_capabilities(
        ctx: Context,
    ) -> CallToolResult | InputRequiredResult:
        declared = ctx.client_capabilities
        requests: dict[str, tuple[str, dict]] = {}
        if declared is not None and declared.sampling is not None:
            requests["greeting"] = _sample("Generate a greeting", 50)
        if declared is not None and declared.elicitation is not None:
            requests["user_name"] = name_form
        if not requests:
            return _text("the client declared nothing this tool could ask for")
        answers = await ask(ctx, requests)
        if isinstance(answers, InputRequiredResult):
            return answers
        return _text(f"answered: {', '.join(sorted(answers))}")


PROMPT_STATE = "prompt-round-1"


def add_relay_prompts(server: MCPServer) -> None:
    """The suite's fixture prompt that asks the user first (``input-required-result-non-tool-
    request``): ``InputRequiredResult`` is not for tools only (SEP-2322)."""
    context_form = _elicit(
        "What context should the prompt use?", {"context": {"type": "string"}}, ["context"]
    )

    @server.prompt(
        name="test_input_required_result_prompt",
        description="MRTR: asks the user for context, then renders the prompt with it.",
    )
    async def test_input_required_result_prompt(
        ctx: Context,
    ) -> list[UserMessage] | InputRequiredResult:
        # A requestState too, checked on the retry: it proves the gateway hands the upstream
        # its own state back from inside the sealed one.
        answers = await ask(ctx, {"user_context": context_form}, state=PROMPT_STATE)
        if isinstance(answers, InputRequiredResult):
            return answers
        if _modern(ctx) and ctx.request_state != PROMPT_STATE:
            raise MCPError(-32602, "requestState missing")
        context = (answers["user_context"].get("content") or {}).get("context", "")
        text = f"Prompt with user context: {context}"
        return [UserMessage(content=TextContent(type="text", text=text))]
